/* The book's Bokeh figures in the page's theme (book/_ext/figure_theme.py).
   Bokeh draws a figure's frame in light colours. In the dark theme this script gives every frame
   the page's own colours (read from the theme's CSS variables): background, border, axes, ticks,
   grid, titles, legends, colour bars, where Bokeh drew them in greys. It keeps each model's first
   values and puts them back for the light theme. The data (lines, markers, images, cells and their text) is never touched, so
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
    bar_line_color: "border", inactive_fill_color: "background"
  };
  // The models that make up a frame; glyphs, labels and widgets are data or their own.
  var FRAME_MODEL = /^(Figure|Plot|GridPlot|Title|Legend|ColorBar|Grid|\w*Axis)$/;
  var GREYS = {black: 1, white: 1, gray: 1, grey: 1, lightgray: 1, lightgrey: 1, darkgray: 1,
               darkgrey: 1, dimgray: 1, dimgrey: 1, silver: 1, gainsboro: 1, whitesmoke: 1};
  var original = new WeakMap();

  // Bokeh's frame defaults are greys (#444444 text, black axes, #e5e5e5 grid, white fill). A
  // coloured value (an axis label in its curve's colour, say) is a key to the data: it stays.
  function isGrey(value) {
    if (typeof value !== "string") return false;
    var text = value.trim().toLowerCase();
    if (GREYS[text]) return true;
    var hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/.exec(text);
    if (!hex) return false;
    var digits = hex[1].length === 3 ? hex[1].replace(/(.)/g, "$1$1") : hex[1];
    return digits.slice(0, 2) === digits.slice(2, 4) && digits.slice(2, 4) === digits.slice(4, 6);
  }

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

  function restyle(model, dark, colors) {
    if (!FRAME_MODEL.test(model.type)) return;
    var props = model.properties || {};
    var names = Object.keys(FRAME).filter(function (name) { return name in props; });
    if (model.type === "Title" && "text_color" in props) names.push("text_color");
    if (!names.length) return;
    if (!original.has(model)) {
      var first = {};
      names.forEach(function (name) { first[name] = model[name]; });
      original.set(model, first);
    }
    var saved = original.get(model), changes = {};
    names.forEach(function (name) {
      if (!isGrey(saved[name])) return;  // none, transparent, or a colour: kept
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

  // A figure or table wider than the column (on a phone) scrolls in its own box; data-wide marks
  // it, and the style sheet then says so under it ("swipe sideways"), since a phone shows no
  // scroll bar until one scrolls.
  var WIDE = ".cnn-tutorial-bokeh, .pst-scrollable-table-container, " +
    ".cell_output .output.text_html:has(> table), .cell_output .output.text_html:has(> div > table)";
  function markWide() {
    document.querySelectorAll(WIDE).forEach(function (box) {
      var wide = box.scrollWidth > box.clientWidth + 1;
      if (wide) box.setAttribute("data-wide", "true"); else box.removeAttribute("data-wide");
    });
  }

  function onDrawn() { apply(); markWide(); }
  window.cnnTutorialFigureTheme = onDrawn;
  new MutationObserver(apply).observe(document.documentElement,
    {attributes: true, attributeFilter: ["data-theme"]});
  window.addEventListener("load", onDrawn);
  window.addEventListener("resize", markWide);
})();
