'use strict';
// plotly.js's core with one trace, scattergl, in its strict flavour: regl's drawing code
// compiled ahead, so it draws under a Content-Security-Policy without 'unsafe-eval'.
var Plotly = require('plotly.js/lib/core');

Plotly.register([require('plotly.js/src/traces/scattergl/strict')]);

module.exports = Plotly;
