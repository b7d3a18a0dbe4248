import { parseOrigin } from '../shared/index.js';
import { UsageError } from './context.js';

export interface BrowserFlags {
  origins?: string;
  allowNoOrigin?: boolean;
  mint?: boolean;
}

/** `token issue`'s options for web pages, checked: every bad origin named at once. */
export function browserFromFlags(f: BrowserFlags): { origins?: string[]; allowNoOrigin?: boolean; mint?: boolean } {
  const problems: string[] = [];
  const origins: string[] = [];
  for (const entry of (f.origins ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const parsed = parseOrigin(entry);
    if (typeof parsed === 'string') problems.push(`--origins: ${parsed}`);
    else if (!origins.includes(parsed.text)) origins.push(parsed.text);
  }
  if (f.origins !== undefined && origins.length === 0 && problems.length === 0) problems.push('--origins needs at least one origin');
  if (f.allowNoOrigin && f.origins === undefined) problems.push('--allow-no-origin goes with --origins (a token without origins needs no Origin anyway)');
  if (problems.length > 0) throw new UsageError(`Invalid token options:\n  - ${problems.join('\n  - ')}`);
  return { ...(origins.length > 0 ? { origins } : {}), ...(f.allowNoOrigin ? { allowNoOrigin: true } : {}), ...(f.mint ? { mint: true } : {}) };
}
