// What the native binaries are built from: every file under native/, cmake/ and CMakeLists.txt,
// hashed in path order. scripts/prebuild.js writes it into prebuild.json; scripts/build-native.js
// keeps a prebuild at install only when it matches the sources beside it.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

function sourcesHash(root) {
  const files = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const f = path.join(dir, e.name);
      if (e.isDirectory()) walk(f);
      else if (e.isFile()) files.push(f);
    }
  };
  walk(path.join(root, 'native'));
  walk(path.join(root, 'cmake'));
  files.push(path.join(root, 'CMakeLists.txt'));
  const rel = (f) => path.relative(root, f) || '.';
  const h = crypto.createHash('sha256');
  for (const f of files.map(rel).sort()) {
    h.update(`${f}\0`);
    h.update(fs.readFileSync(path.join(root, f)));
    h.update('\0');
  }
  return h.digest('hex');
}

module.exports = { sourcesHash };
