#!/usr/bin/env node
// Bundles the browser client (lib/browser/index.ts) into one ES module, dist/browser/tfe-browser.js,
// with esbuild. platform 'browser': a Node built-in anywhere in the import graph fails the build
// (the bundle must run in a page), so this build is also the check that lib/browser stays clean.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

const root = path.join(__dirname, '..');
const outfile = path.join(root, 'dist', 'browser', 'tfe-browser.js');

async function buildBrowser({ minify = true } = {}) {
  const esbuild = require('esbuild');
  await esbuild.build({
    entryPoints: [path.join(root, 'lib', 'browser', 'index.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'], // BigInt, BigUint64Array, private fields
    minify,
    sourcemap: true,
    legalComments: 'none',
    outfile,
    logLevel: 'silent',
  });
  const code = fs.readFileSync(outfile);
  return { file: outfile, bytes: code.byteLength, gzipBytes: zlib.gzipSync(code).byteLength };
}

module.exports = { buildBrowser, outfile };

if (require.main === module)
  buildBrowser().then(
    (r) => console.log(`${path.relative(process.cwd(), r.file)}: ${r.bytes} bytes (${r.gzipBytes} gzipped)`),
    (e) => {
      console.error(`build-browser: ${e.message}`);
      process.exit(1);
    },
  );
