'use strict';
// Small numeric helpers shared by the benchmark.

/** Median of the finite numbers in `xs`, or NaN. */
function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Formats a number with `digits` decimals; '–' for NaN/undefined. */
function fmt(x, digits = 0) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '–';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Formats a signed number (`+12`, `-3`). */
function signed(x, digits = 0) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '–';
  return (x >= 0 ? '+' : '') + fmt(x, digits);
}

/** A markdown table from a header row and rows of cells; the first `align` columns are left-aligned. */
function table(header, rows, align = 2) {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((h, i) => (i < align ? '---' : '---:')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

module.exports = { median, fmt, signed, table };
