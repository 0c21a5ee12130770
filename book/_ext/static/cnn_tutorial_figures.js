/* The book's Bokeh figures in the page's theme (book/_ext/figure_theme.py).
   Bokeh draws a figure's frame in light colours. In the dark theme this script gives every frame
   the page's own colours (read from the theme's CSS variables): background, border, axes, ticks,
   grid, titles, legends, colour bars. It keeps each model's first values and puts them back for
   the light theme. The data (lines, markers, images, cells and their text) is never touched, so
   every colour means the same thing in both themes. It runs when a figure has been drawn
   (cnn_tutorial.display calls window.cnnTutorialFigureTheme) and whenever the theme changes. */
(function () {
  "use strict";
  // property -> which page colour it takes in the dark theme
  var FRAME = {
    background_fill_color: "background", border_fill_color: "background",
    outline_line_color: "border", grid_line_color: "grid", minor_grid_line_color: "grid",
    axis_line_color: "muted", major_tick_line_color: "muted", minor_tick_line_color: "muted",
    major_label_text_color: "text", axis_label_text_color: "text",
    label_text_color: "text", title_text_color: "text", border_line_color: "border",
    bar_line_color: "border"
  };
  // Models whose text_color is frame text (a Label or Text glyph is data: it keeps its colour).
  var TITLES = {Title: true};
  var original = new WeakMap();

  function pageColors() {
    var css = getComputedStyle(document.documentElement);
    function read(name, fallback) { return css.getPropertyValue(name).trim() || fallback; }
    return {
      background: read("--pst-color-background", "#14181e"),
      text: read("--pst-color-text-base", "#ced6dd"),
      muted: read("--pst-color-text-muted", "#9ca4af"),
      border: read("--pst-color-border", "#48566b"),
      grid: read("--pst-color-surface", "#29313d")
    };
  }

  function isTransparent(value) {
    if (value === null || value === undefined) return true;
    var text = String(value).replace(/\s+/g, "").toLowerCase();
    return text === "transparent" || /^rgba\(.*,0(\.0*)?\)$/.test(text) ||
      /^#[0-9a-f]{6}00$/.test(text);
  }

  function restyle(model, dark, colors) {
    var props = model.properties || {};
    var names = Object.keys(FRAME).filter(function (name) { return name in props; });
    if (TITLES[model.type] && "text_color" in props) names.push("text_color");
    if (!names.length) return;
    if (!original.has(model)) {
      var first = {};
      names.forEach(function (name) { first[name] = model[name]; });
      original.set(model, first);
    }
    var saved = original.get(model), changes = {};
    names.forEach(function (name) {
      if (isTransparent(saved[name])) return;  // no line or fill: stays so
      changes[name] = dark ? colors[FRAME[name] || "text"] : saved[name];
    });
    model.setv(changes);
  }

  function apply() {
    if (!window.Bokeh || !window.Bokeh.documents) return;
    var dark = document.documentElement.dataset.theme === "dark";
    var colors = pageColors();
    window.Bokeh.documents.forEach(function (doc) {
      doc.all_models.forEach(function (model) { restyle(model, dark, colors); });
    });
  }

  window.cnnTutorialFigureTheme = apply;
  new MutationObserver(apply).observe(document.documentElement,
    {attributes: true, attributeFilter: ["data-theme"]});
  window.addEventListener("load", apply);
})();
