// PurgeCSS settings of the site (sitebuild/trim.py passes the stylesheets and the content on the
// command line). Kept whatever the pages' text says: the classes of the widget manager's views,
// which embed.js creates in the browser and the theme styles (for the dark theme).
module.exports = {
  safelist: { greedy: [/widget/, /^jp-/, /^lm-/, /jupyter/] },
};
