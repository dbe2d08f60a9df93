// Typeset the formulas of the site's pages into SVG at build time (sitebuild/math_render.py runs
// this with NODE_PATH pointing at the npm packages of package.json).
//
// stdin:  {"pages": [[fragment, ...], ...]}: per page, the inner HTML of each of its math elements
//         (Sphinx writes `\(...\)` into <span class="math">, `\[...\]` or an environment into <div class="math">)
// stdout: {"pages": [{"fragments": [html, ...], "defs": html, "css": html, "errors": [{tex, message}]}]}
//
// Each page is one MathJax document, typeset as MathJax does it in a browser (the same TeX input and
// FindTeX over the same text), with SVG output and one font cache per page: every glyph a page uses
// is drawn once, in `defs`, which the formulas reference. Assistive MathML stays beside each formula
// for screen readers. The TeX packages are those the browser's `input/tex` component would give (its
// own and those `autoload` loads on first use), except `noundefined` and `require`: an unknown macro
// is an error here, reported with its formula, not red text on the page.
"use strict";

const {mathjax} = require("mathjax-full/js/mathjax.js");
const {TeX} = require("mathjax-full/js/input/tex.js");
const {SVG} = require("mathjax-full/js/output/svg.js");
const {liteAdaptor} = require("mathjax-full/js/adaptors/liteAdaptor.js");
const {RegisterHTMLHandler} = require("mathjax-full/js/handlers/html.js");
const {AssistiveMmlHandler} = require("mathjax-full/js/a11y/assistive-mml.js");
require("mathjax-full/js/input/tex/AllPackages.js");   // registers every package; PACKAGES picks

const PACKAGES = ["base", "ams", "newcommand", "configmacros",
                  // what `autoload` brings in a browser when a formula first uses one of its macros
                  "action", "amscd", "bbox", "boldsymbol", "braket", "bussproofs", "cancel", "color",
                  "enclose", "extpfeil", "html", "mhchem", "unicode", "verb"];
const MARK = "data-site-math";

const adaptor = liteAdaptor();
AssistiveMmlHandler(RegisterHTMLHandler(adaptor));

function typesetPage(fragments) {
  const errors = [];
  const tex = new TeX({
    packages: PACKAGES,
    formatError: (jax, error) => {
      errors.push({tex: jax.latex, message: error.message});
      return jax.formatError(error);
    },
  });
  const svg = new SVG({fontCache: "global"});
  const body = fragments.map((fragment, i) => `<div ${MARK}="${i}">${fragment}</div>`).join("");
  const page = mathjax.document(`<!DOCTYPE html><html><head></head><body>${body}</body></html>`,
                                {InputJax: tex, OutputJax: svg});
  page.render();
  const root = page.document;
  const wrappers = adaptor.tags(adaptor.body(root), "div").filter(div => adaptor.hasAttribute(div, MARK));
  const cache = adaptor.tags(adaptor.body(root), "svg").find(s => adaptor.getAttribute(s, "id") === SVG.FONTCACHEID);
  return {
    fragments: wrappers.map(div => adaptor.innerHTML(div)),
    defs: cache ? adaptor.outerHTML(cache) : "",
    css: adaptor.tags(adaptor.head(root), "style").map(style => adaptor.outerHTML(style)).join(""),
    errors,
  };
}

const chunks = [];
process.stdin.on("data", chunk => chunks.push(chunk));
process.stdin.on("end", () => {
  const {pages} = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  process.stdout.write(JSON.stringify({pages: pages.map(typesetPage)}));
});
