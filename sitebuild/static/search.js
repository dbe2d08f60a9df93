/* The search page of the course site (loaded on search.html only, before Sphinx's searchtools.js).
 *
 * Two changes to Sphinx's own search, which otherwise works as it is:
 * - Ranking: a result whose page title (or section title) holds every word of the query comes
 *   first, page titles before section titles. Sphinx scores a title word like any other, so
 *   "gated recurrent unit" could rank the landing page "Gated recurrent networks" above the GRU
 *   chapter. Sphinx reads `Scorer` from the page when it is defined before searchtools.js.
 * - Snippets: Sphinx shows 240 characters from the start of the page's main block, which in this
 *   theme is the title bar, the buttons and the table of contents, whitespace included ("The gated
 *   recurrent unit Contents"). Here the text comes from the article body only, with the notes the
 *   build adds and the headings left out and whitespace collapsed, so a snippet is a sentence.
 */
"use strict";

var Scorer = {
  // Sphinx's defaults (sphinx/themes/basic/static/searchtools.js), unchanged
  objNameMatch: 11,
  objPartialMatch: 6,
  objPrio: {0: 15, 1: 5, 2: -5},
  objPrioDefault: 0,
  title: 15,
  partialTitle: 7,
  term: 5,
  partialTerm: 2,

  // the page whose title matches the query first, then sections whose title matches
  pageTitleMatch: 30,
  sectionTitleMatch: 10,
  score: (result) => {
    const [, title, anchor, , score] = result;
    const query = new URLSearchParams(window.location.search).get("q") || "";
    const words = query.toLowerCase().split(/[^\p{L}\p{N}_]+/u).filter((w) => w.length > 1);
    if (!words.length || !title) return score;
    const own = (anchor ? title.split(" > ").pop() : title).toLowerCase();
    if (!words.every((word) => own.includes(word))) return score;
    return score + (anchor ? Scorer.sectionTitleMatch : Scorer.pageTitleMatch);
  },
};

document.addEventListener("DOMContentLoaded", () => {
  // runs before Search.init, which Sphinx registers for the same event after this script
  Search.htmlToText = (htmlString, anchor) => {
    const page = new DOMParser().parseFromString(htmlString, "text/html");
    const body = page.querySelector("article.bd-article") || page.querySelector('[role="main"]');
    if (!body) return "";
    for (const selector of [".headerlink", "script", "style", "h1", "h2", "h3", "h4",
                            ".site-build-note", ".toctree-wrapper", "#jb-print-docs-body"]) {
      body.querySelectorAll(selector).forEach((el) => el.remove());
    }
    const section = anchor ? page.getElementById(decodeURIComponent(anchor.slice(1))) : null;
    const part = section && body.contains(section) ? section : body;
    return part.textContent.replace(/\s+/g, " ").trim();
  };
});
