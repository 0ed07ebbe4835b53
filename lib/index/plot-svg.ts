/**
 * `index.ts stats --plot FILE.svg`: events per day as stacked bars, one colour per main kind
 * and one for the rest, with a title, dated x axis, counted y axis and a legend. Plain SVG
 * text: it is output formatting, and no chart library is needed for bars and labels.
 */
import type { DailyKinds } from './daily.ts';

const WIDTH = 960;
const HEIGHT = 480;
const MARGIN = { left: 72, right: 170, top: 48, bottom: 56 };
/** Colour-blind-safe palette (Okabe-Ito); the last is "other". */
const COLOURS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#999999'];

/** Names of common kinds (NIP-01, 02, 04, 18, 25, 57), for the legend. */
const KIND_NAMES: Record<number, string> = { 0: 'profile', 1: 'note', 3: 'follows', 4: 'DM', 5: 'deletion', 6: 'repost', 7: 'reaction', 9735: 'zap', 10002: 'relay list' };
export const kindLabel = (k: number) => (KIND_NAMES[k] ? `kind ${k} (${KIND_NAMES[k]})` : `kind ${k}`);

const escapeXml = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** A round step for about `ticks` ticks up to `max` (1, 2 or 5 times a power of ten). */
function niceStep(max: number, ticks = 5): number {
  const raw = Math.max(max, 1) / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  return Math.max(1, step);
}

const short = (x: number) => (x >= 1e6 ? `${+(x / 1e6).toFixed(1)}M` : x >= 1e3 ? `${+(x / 1e3).toFixed(1)}k` : String(x));

/** Days from a YYYY-MM-DD (days of the plot are consecutive, gaps included). */
const dayNumber = (day: string) => Math.round(Date.parse(`${day}T00:00:00Z`) / 86400_000);
const dayText = (n: number) => new Date(n * 86400_000).toISOString().slice(0, 10);

export function plotDailyKinds(d: DailyKinds, title: string): string {
  const out: string[] = [];
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`);
  out.push(`<text x="${WIDTH / 2}" y="28" text-anchor="middle" font-size="17" font-weight="bold">${escapeXml(title)}</text>`);
  const dated = d.days.filter((r) => !Number.isNaN(dayNumber(r.day)));
  if (dated.length === 0) {
    out.push(`<text x="${WIDTH / 2}" y="${HEIGHT / 2}" text-anchor="middle" font-size="14">no events</text>`, '</svg>');
    return out.join('\n') + '\n';
  }
  const first = dayNumber(dated[0].day);
  const last = dayNumber(dated[dated.length - 1].day);
  const span = last - first + 1;
  const max = Math.max(...dated.map((r) => r.total));
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const x = (day: number) => MARGIN.left + ((day - first) / span) * plotW;
  const y = (v: number) => MARGIN.top + plotH - (v / top) * plotH;
  // Dense bars overlap by a little, so that anti-aliasing leaves no pale seams between them.
  const barW = Math.max(plotW / span + (span > 60 ? 0.4 : -2), 0.5);

  // Grid and y axis.
  for (let v = 0; v <= top; v += step) {
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="${v === 0 ? '#333333' : '#dddddd'}"/>`);
    out.push(`<text x="${MARGIN.left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${short(v)}</text>`);
  }
  out.push(`<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">events per day</text>`);

  // Bars: the main kinds from the bottom, "other" on top.
  for (const r of dated) {
    const bx = x(dayNumber(r.day)) + (span > 60 ? 0 : 1);
    let base = 0;
    const parts = [...r.byKind, r.other];
    for (let k = 0; k < parts.length; k++) {
      if (parts[k] === 0) continue;
      const y0 = y(base);
      const y1 = y(base + parts[k]);
      out.push(`<rect x="${bx.toFixed(2)}" y="${y1.toFixed(2)}" width="${barW.toFixed(2)}" height="${(y0 - y1).toFixed(2)}" fill="${COLOURS[k === r.byKind.length ? COLOURS.length - 1 : k]}"><title>${r.day} ${k === r.byKind.length ? 'other kinds' : `kind ${d.kinds[k]}`}: ${parts[k]}</title></rect>`);
      base += parts[k];
    }
  }

  // X axis: about 6 dated ticks at day starts.
  const tickEvery = Math.max(1, Math.ceil(span / 6));
  for (let day = first; day <= last; day += tickEvery) {
    const tx = x(day) + (plotW / span) / 2;
    out.push(`<line x1="${tx.toFixed(1)}" x2="${tx.toFixed(1)}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH + 5}" stroke="#333333"/>`);
    out.push(`<text x="${tx.toFixed(1)}" y="${MARGIN.top + plotH + 20}" text-anchor="middle">${dayText(day)}</text>`);
  }
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">day (UTC)</text>`);

  // Legend.
  const labels = [...d.kinds.map(kindLabel), 'other kinds'];
  const lx = MARGIN.left + plotW + 20;
  labels.forEach((label, i) => {
    const ly = MARGIN.top + 8 + i * 22;
    const colour = COLOURS[i === labels.length - 1 ? COLOURS.length - 1 : i];
    out.push(`<rect x="${lx}" y="${ly}" width="14" height="14" fill="${colour}"/>`);
    out.push(`<text x="${lx + 20}" y="${ly + 11}">${escapeXml(label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
