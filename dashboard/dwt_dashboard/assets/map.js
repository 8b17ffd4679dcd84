/* The Insights map's view-only controls (dwt_dashboard.insights_map): zoom, fit, centre on
   a member found by the search, and the PNG download. They act on the map the page already
   shows (the cytoscape instance, or the WebGL map of every member through Plotly's public
   functions) and read nothing from the server. */
(function () {
  function cy() {
    var root = document.getElementById("bond-graph");
    if (!root) { return null; }
    if (root._cyreg && root._cyreg.cy) { return root._cyreg.cy; }
    var nodes = root.querySelectorAll("div");
    for (var i = 0; i < nodes.length; i++) {
      if (nodes[i]._cyreg && nodes[i]._cyreg.cy) { return nodes[i]._cyreg.cy; }
    }
    return null;
  }

  /* The WebGL map's plot while it is the map shown (else null). */
  function gl() {
    var canvas = document.getElementById("map-canvas");
    if (!canvas || !canvas.classList.contains("gl") || !window.Plotly) { return null; }
    var plot = document.querySelector("#map-gl .js-plotly-plot");
    return plot && plot.data && plot.layout && plot.layout.xaxis ? plot : null;
  }

  function glZoom(plot, factor) {
    function scaled(r) {
      var mid = (r[0] + r[1]) / 2, half = (r[1] - r[0]) / 2 / factor;
      return [mid - half, mid + half];
    }
    window.Plotly.relayout(plot, {
      "xaxis.range": scaled(plot.layout.xaxis.range),
      "yaxis.range": scaled(plot.layout.yaxis.range)
    });
  }

  /* Select and centre a member on the WebGL map (its points are known by username). */
  function glCentre(plot, focus) {
    var nodes = plot.data[1], i = nodes.customdata.indexOf(focus.name);
    if (i < 0) { return false; }
    var x = nodes.x[i], y = nodes.y[i], half = 60;  /* of the map's 0..1000 grid */
    window.Plotly.restyle(plot, {selectedpoints: [[i]]}, [1]);
    window.Plotly.relayout(plot, {
      "xaxis.range": [x - half, x + half], "yaxis.range": [y + half, y - half]
    });
    window.dwtMapCentred = focus.id;
    return true;
  }

  function zoomBy(c, factor) {
    var level = Math.max(c.minZoom(), Math.min(c.maxZoom(), c.zoom() * factor));
    c.zoom({level: level, renderedPosition: {x: c.width() / 2, y: c.height() / 2}});
  }

  /* The member last centred: a re-fit of new elements that hold it centres it again, so
     a fit arriving after the centring (a phone's slower render) cannot undo it. */
  var focused = null;

  /* Select and centre a member once it is drawn (the elements may still be arriving). */
  function centre(focus, tries) {
    var id = focus.id, plot = gl();
    if (plot && glCentre(plot, focus)) { return; }
    focused = id;
    var c = cy();
    var node = c && c.getElementById(id);
    if (!node || node.empty() || node.position("x") === undefined) {
      if (tries > 0) { setTimeout(function () { centre(focus, tries - 1); }, 100); }
      return;
    }
    c.elements(":selected").unselect();
    node.select();
    c.zoom(Math.max(c.zoom(), Math.min(c.maxZoom(), 2)));
    c.center(node);
    /* Once more after the next frames: a fit or resize still under way moves it. */
    setTimeout(function () {
      if (focused === id && !node.removed()) { c.center(node); }
      window.dwtMapCentred = id;  /* what the browser tests and the benchmark wait for */
    }, 200);
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    dwtMap: {
      view: function (zin, zout, fit, focus) {
        var c = cy(), plot = gl();
        var trigger = (window.dash_clientside.callback_context.triggered[0] || {}).prop_id || "";
        var first = !zin && !zout && !fit;  /* the page opening (a ?member= link) */
        if ((trigger.indexOf("map-focus") === 0 || first) && focus && focus.id) {
          setTimeout(function () { centre(focus, 30); }, 50);
        } else if (plot && trigger.indexOf("map-zoom-in") === 0) {
          glZoom(plot, 1.5);
        } else if (plot && trigger.indexOf("map-zoom-out") === 0) {
          glZoom(plot, 1 / 1.5);
        } else if (plot && trigger.indexOf("map-fit") === 0) {
          window.Plotly.relayout(plot, {"xaxis.autorange": true, "yaxis.autorange": "reversed"});
        } else if (c && trigger.indexOf("map-zoom-in") === 0) {
          zoomBy(c, 1.5);
        } else if (c && trigger.indexOf("map-zoom-out") === 0) {
          zoomBy(c, 1 / 1.5);
        } else if (c && trigger.indexOf("map-fit") === 0) {
          c.fit(undefined, 24);
        }
        return Date.now();
      },
      /* New elements (another view): fit them once they are drawn. */
      fit: function (elements) {
        setTimeout(function () {
          var c = cy();
          if (!c) { return; }
          c.resize();  /* it may have been hidden while the WebGL map showed */
          var node = focused && c.getElementById(focused);
          if (node && !node.empty()) {
            c.zoom(Math.max(c.zoom(), Math.min(c.maxZoom(), 2)));
            c.center(node);
          } else {
            focused = null;
            c.fit(undefined, 24);
          }
        }, 0);
        return Date.now();
      },
      png: function (clicks, community) {
        var plot = gl();
        if (plot) {
          window.Plotly.downloadImage(plot, {
            format: "png", scale: 2, filename: (community || "community") + "-map"
          });
          return window.dash_clientside.no_update;
        }
        return {type: "png", action: "store", options: {bg: "#ffffff", full: true, scale: 2}};
      },
      pngData: function (image, community) {
        if (!image) { return window.dash_clientside.no_update; }
        var comma = image.indexOf(",");
        return {
          content: comma >= 0 ? image.slice(comma + 1) : image,
          base64: true,
          filename: (community || "community") + "-map.png",
          type: "image/png"
        };
      }
    }
  });
})();
