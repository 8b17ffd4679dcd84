/* The Insights map's view-only controls (dwt_dashboard.insights_map): zoom, fit, centre on
   a member found by the search, and the PNG download. They act on the cytoscape instance
   the page already shows and read nothing from the server. */
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

  function zoomBy(c, factor) {
    var level = Math.max(c.minZoom(), Math.min(c.maxZoom(), c.zoom() * factor));
    c.zoom({level: level, renderedPosition: {x: c.width() / 2, y: c.height() / 2}});
  }

  /* The member last centred: a re-fit of new elements that hold it centres it again, so
     a fit arriving after the centring (a phone's slower render) cannot undo it. */
  var focused = null;

  /* Select and centre a member once it is drawn (the elements may still be arriving). */
  function centre(id, tries) {
    focused = id;
    var c = cy();
    var node = c && c.getElementById(id);
    if (!node || node.empty() || node.position("x") === undefined) {
      if (tries > 0) { setTimeout(function () { centre(id, tries - 1); }, 100); }
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
        var c = cy();
        var trigger = (window.dash_clientside.callback_context.triggered[0] || {}).prop_id || "";
        var first = !zin && !zout && !fit;  /* the page opening (a ?member= link) */
        if ((trigger.indexOf("map-focus") === 0 || first) && focus && focus.id) {
          setTimeout(function () { centre(focus.id, 30); }, 50);
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
      png: function (clicks) {
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
