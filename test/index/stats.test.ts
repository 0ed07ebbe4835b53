/**
 * index.ts stats through its command line: the table of events per day by kind, and the
 * --plot picture, rendered to PNG by rsvg-convert and checked pixel by pixel for bars in each
 * legend colour.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { PNG } from 'pngjs';
import { allStoredEvents, convertInto, randomSample, realSampleLines, runScript, tempDir, writeJsonl } from '../helpers/index.ts';

/** Okabe-Ito colours of lib/index/plot-svg.ts: five main kinds, then "other". */
const COLOURS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#999999'];

test('index stats prints events per day by kind, and --plot draws them as stacked bars that render', async (t) => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  await convertInto(out, writeJsonl(path.join(dir, 'in.jsonl'), [...realSampleLines(), ...randomSample(3000, 4, 6)]));
  const events = await allStoredEvents(out);
  const svg = path.join(dir, 'days.svg');
  const r = runScript('index', ['stats', out, '--plot', svg]);
  assert.equal(r.status, 0, r.stderr);

  // The table: one row per day, its total and the five most common kinds, the rest as other.
  const byKind = new Map<number, number>();
  for (const e of events) byKind.set(e.kind, (byKind.get(e.kind) ?? 0) + 1);
  const main = [...byKind].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 5).map(([k]) => k);
  const lines = r.stdout.split('\n');
  const header = lines.findIndex((l) => /^\s+day\s+events/.test(l));
  assert.ok(header > 0, r.stdout);
  assert.deepEqual(lines[header].trim().split(/\s{2,}/), ['day', 'events', ...main.map((k) => `kind ${k}`), 'other']);
  const days = new Map<string, number[]>();
  for (const e of events) {
    const day = new Date(e.created_at * 1000).toISOString().slice(0, 10);
    const row = days.get(day) ?? Array(main.length + 2).fill(0);
    row[0]++;
    const c = main.indexOf(e.kind);
    row[c === -1 ? main.length + 1 : c + 1]++;
    days.set(day, row);
  }
  const rows = lines.slice(header + 1, header + 1 + days.size).map((l) => l.trim().split(/\s+/));
  assert.deepEqual(rows, [...days].sort().map(([day, counts]) => [day, ...counts.map((x) => x.toLocaleString('en-US'))]));
  assert.match(r.stdout, new RegExp(`plot written to ${svg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

  const text = fs.readFileSync(svg, 'utf8');
  assert.match(text, /<title>/);
  assert.match(text, /Events per day by kind/);
  for (const day of days.keys()) assert.ok(text.includes(day), `the day ${day} is somewhere in the picture`);

  const rsvg = spawnSync('rsvg-convert', ['--version'], { encoding: 'utf8' });
  if (rsvg.error) {
    t.skip('rsvg-convert is not installed (apt-get install librsvg2-bin): the SVG is not rendered');
    return;
  }
  const pngPath = path.join(dir, 'days.png');
  const render = spawnSync('rsvg-convert', ['-o', pngPath, svg], { encoding: 'utf8' });
  assert.equal(render.status, 0, render.stderr);
  const png = PNG.sync.read(fs.readFileSync(pngPath));
  assert.deepEqual([png.width, png.height], [960, 480]);
  const counts = new Map<string, number>();
  let dark = 0;
  for (let i = 0; i < png.data.length; i += 4) {
    const hex = `#${[png.data[i], png.data[i + 1], png.data[i + 2]].map((v) => v.toString(16).padStart(2, '0')).join('')}`.toUpperCase();
    counts.set(hex, (counts.get(hex) ?? 0) + 1);
    if (png.data[i] + png.data[i + 1] + png.data[i + 2] < 150) dark++;
  }
  const total = png.width * png.height;
  assert.ok((counts.get('#FFFFFF') ?? 0) > total * 0.3, 'a white background');
  assert.ok(dark > 500, 'text and axes are drawn');
  // Every kind of the legend has its colour in the bars (and legend), "other" too.
  for (const c of COLOURS) assert.ok((counts.get(c) ?? 0) > 400, `colour ${c}: ${counts.get(c) ?? 0} pixels`);
  fs.copyFileSync(pngPath, path.join(process.env.PLOT_COPY_DIR ?? dir, 'days.png'));
});

test('index stats --plot wants an .svg file, and only with stats', () => {
  const dir = tempDir();
  const bad = runScript('index', ['stats', dir, '--plot', path.join(dir, 'x.png')]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--plot writes SVG/);
  const rebuild = runScript('index', ['rebuild', dir, '--plot', path.join(dir, 'x.svg')]);
  assert.equal(rebuild.status, 2);
  assert.match(rebuild.stderr, /--plot goes with stats/);
});
