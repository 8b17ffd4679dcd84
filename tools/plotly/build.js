// Bundles entry.js the way plotly.js bundles itself (its esbuild-config.js: an IIFE that
// sets window.Plotly, regl aliased to @plotly/regl, shaders and CSS inlined), minified.
const esbuild = require('esbuild');
const { environmentPlugin } = require('esbuild-plugin-environment');
const { glsl } = require('esbuild-plugin-glsl');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');

const out = process.argv[2];
const banner = [
  '/**',
  '* plotly.js v4.1.1 (scattergl only, strict), built by tools/plotly/build.sh',
  '* Copyright 2012-2026, Plotly, Inc. All rights reserved.',
  '* Licensed under the MIT license',
  '*/',
].join('\n');

esbuild
  .build({
    entryPoints: [`${__dirname}/entry.js`],
    outfile: out,
    format: 'iife',
    globalName: 'Plotly',
    bundle: true,
    nodePaths: (process.env.NODE_PATH || '').split(':').filter(Boolean),
    minify: true,
    sourcemap: false,
    banner: { js: banner },
    plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
    alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
    define: { global: 'window', 'define.amd': 'false' },
    target: 'es2016',
    logLevel: 'warning',
  })
  .catch(() => process.exit(1));
