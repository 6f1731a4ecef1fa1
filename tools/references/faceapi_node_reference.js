#!/usr/bin/env node
/*
 * Reference outputs of the original face-api.js runtime for genfer's torch port
 * (tests/fixtures/pretrained/faceapi/, made by tools/references/faceapi_fixtures.py).
 *
 * Versions: @vladmandic/face-api 1.7.15 (dist/face-api.node-wasm.js), @tensorflow/tfjs 4.22.0 and
 * @tensorflow/tfjs-backend-wasm 4.22.0 (the tfjs face-api 1.7.15 was built against, its
 * dist/tfjs.version.js), Node 20.
 *
 * Setup, in a temp folder outside the repository:
 *   npm init -y
 *   npm install @vladmandic/face-api@1.7.15 @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0
 * Run from that folder (modules are resolved from the current directory):
 *   node /path/to/faceapi_node_reference.js crops.json out.json [wasm|cpu]
 *
 * crops.json: {"crops": [{"name": str, "height": int, "width": int, "rgb": base64 of H*W*3 uint8}]}
 * out.json:   versions, backend, and per crop: descriptor [128], expressions [7] (face-api's label
 *             order), landmarks [68][2] (pixels of the crop) and landmarks_relative [68][2].
 * Each crop goes in as tf.tensor3d(pixels, [H, W, 3], 'int32'), so no canvas or image decoder is
 * involved; the nets load with loadFromDisk from the package's model/ folder.
 */
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const req = createRequire(path.join(process.cwd(), 'package.json'));
const tf = req('@tensorflow/tfjs');
req('@tensorflow/tfjs-backend-wasm');
const faceapi = req('@vladmandic/face-api/dist/face-api.node-wasm.js');

async function main() {
  const [input, output, backend = 'wasm'] = process.argv.slice(2);
  if (!input || !output) {
    throw new Error('usage: node faceapi_node_reference.js crops.json out.json [wasm|cpu]');
  }
  await tf.setBackend(backend);
  await tf.ready();
  const modelDir = path.join(path.dirname(req.resolve('@vladmandic/face-api/package.json')), 'model');
  await faceapi.nets.faceRecognitionNet.loadFromDisk(modelDir);
  await faceapi.nets.faceExpressionNet.loadFromDisk(modelDir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(modelDir);

  const { crops } = JSON.parse(fs.readFileSync(input, 'utf8'));
  const results = [];
  for (const crop of crops) {
    const pixels = Int32Array.from(Buffer.from(crop.rgb, 'base64'));
    const t = tf.tensor3d(pixels, [crop.height, crop.width, 3], 'int32');
    const descriptor = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(t);
    const expressions = await faceapi.nets.faceExpressionNet.predictExpressions(t);
    const landmarks = await faceapi.nets.faceLandmark68Net.detectLandmarks(t);
    results.push({
      name: crop.name,
      descriptor: Array.from(descriptor),
      expressions: faceapi.FACE_EXPRESSION_LABELS.map((k) => expressions[k]),
      landmarks: landmarks.positions.map((p) => [p.x, p.y]),
      landmarks_relative: landmarks.relativePositions.map((p) => [p.x, p.y]),
    });
    t.dispose();
  }
  const out = {
    versions: { faceapi: faceapi.version, tfjs: tf.version_core, node: process.version },
    backend: tf.getBackend(),
    expression_labels: Array.from(faceapi.FACE_EXPRESSION_LABELS),
    results,
  };
  fs.writeFileSync(output, JSON.stringify(out));
  const { faceapi: fv, tfjs: tv } = out.versions;
  console.log(`${results.length} crops, face-api ${fv}, tfjs ${tv} (${out.backend})`);
}

main().catch((e) => { console.error(e); process.exit(1); });
