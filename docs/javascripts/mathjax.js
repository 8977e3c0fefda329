// MathJax for both kinds of page: Markdown pages and docstrings (pymdownx.arithmatex,
// generic mode, wraps math in \( \) / \[ \] inside class "arithmatex") and the notebook
// pages of mkdocs-jupyter (plain $ / $$ in the rendered Markdown cells).
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {
    // never typeset code cells, outputs or code spans
    ignoreHtmlClass: "highlight|jp-OutputArea|jp-InputArea|tex2jax_ignore",
    processHtmlClass: "arithmatex|jp-MarkdownOutput|jp-RenderedMarkdown"
  }
};

document$.subscribe(() => {
  MathJax.startup.output.clearCache();
  MathJax.typesetClear();
  MathJax.texReset();
  MathJax.typesetPromise();
});
