/**
 * One record of Go's encoding/csv, as BuildKit reads `--mount` specs and `--cache-from/-to`
 * values: fields split at commas, a field may be quoted with `"`, and `""` is a quote inside
 * a quoted field.
 */
export type CsvProblem = "unterminated-quote" | "text-after-quote" | "bare-quote";

export class CsvRecordError extends Error {
  constructor(readonly problem: CsvProblem) {
    super(problem);
  }
}

/** `lazyQuotes` is Go's `Reader.LazyQuotes`: a `"` inside an unquoted field is kept as text. */
export function splitCsvRecord(text: string, options: { lazyQuotes?: boolean } = {}): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new CsvRecordError("unterminated-quote");
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
      if (i < text.length && text[i] !== ",") throw new CsvRecordError("text-after-quote");
    } else {
      const comma = text.indexOf(",", i);
      field = text.slice(i, comma < 0 ? text.length : comma);
      if (options.lazyQuotes !== true && field.includes('"')) throw new CsvRecordError("bare-quote");
      i = comma < 0 ? text.length : comma;
    }
    fields.push(field);
    if (i >= text.length) return fields;
    i++; // the comma
  }
}
