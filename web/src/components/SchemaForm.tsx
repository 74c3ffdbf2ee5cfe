// A settings form generated from a provider's JSON schema: no provider is known here by name.
import { useId, useState } from "react";
import type { JsonSchema } from "../api";
import { revealBidi } from "../format";
import { Untrusted } from "./Untrusted";

export type Values = Record<string, unknown>;

export interface Field {
  name: string;
  schema: JsonSchema;
  kind: "text" | "secret" | "number" | "integer" | "boolean" | "enum" | "list" | "multi" | "textarea";
  required: boolean;
  options: string[];
}

/** The non-null branch of an ``anyOf: [X, null]`` (Pydantic's Optional). */
function concrete(schema: JsonSchema): { schema: JsonSchema; nullable: boolean } {
  if (schema.anyOf) {
    const other = schema.anyOf.filter((s) => s.type !== "null");
    const nullable = other.length < schema.anyOf.length;
    if (other.length === 1 && other[0]) return { schema: { ...other[0], ...stripAnyOf(schema) }, nullable };
  }
  return { schema, nullable: false };
}

function stripAnyOf(schema: JsonSchema): JsonSchema {
  const { anyOf: _ignored, ...rest } = schema;
  return rest;
}

export function fieldsOf(schema: JsonSchema): Field[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).map(([name, raw]) => {
    const { schema: s } = concrete(raw);
    const secret = Boolean(raw.secret || s.secret || s.writeOnly || s.format === "password");
    let kind: Field["kind"] = "text";
    let options: string[] = [];
    if (secret) kind = "secret";
    else if (s.enum) {
      kind = "enum";
      options = s.enum.map(String);
    } else if (s.type === "boolean") kind = "boolean";
    else if (s.type === "integer") kind = "integer";
    else if (s.type === "number") kind = "number";
    else if (s.type === "array") {
      if (s.items?.enum) {
        kind = "multi";
        options = s.items.enum.map(String);
      } else kind = "list";
    } else if ((s.maxLength ?? 0) > 10000) kind = "textarea";
    return { name, schema: { ...s, title: raw.title ?? s.title, description: raw.description ?? s.description, default: raw.default ?? s.default, choices: raw.choices ?? s.choices }, kind, required: required.has(name), options };
  });
}

/** Initial form values: the stored settings (secrets left empty: never filled back), else defaults. */
export function initialValues(fields: Field[], stored: Values | null): Values {
  const out: Values = {};
  for (const f of fields) {
    if (f.kind === "secret") {
      out[f.name] = "";
      continue;
    }
    const value = stored && f.name in stored ? stored[f.name] : f.schema.default;
    if (f.kind === "list") out[f.name] = Array.isArray(value) ? value.join("\n") : "";
    else if (f.kind === "multi") out[f.name] = Array.isArray(value) ? value.map(String) : [];
    else if (f.kind === "boolean") out[f.name] = Boolean(value);
    else out[f.name] = value === null || value === undefined ? "" : String(value);
  }
  return out;
}

/**
 * The settings to send: empty optional fields left out, lists split one per line, numbers parsed.
 * A secret left empty on an existing integration is left out, so the stored one is kept.
 */
export function toSettings(fields: Field[], values: Values): Values {
  const out: Values = {};
  for (const f of fields) {
    const v = values[f.name];
    if (f.kind === "boolean") {
      out[f.name] = Boolean(v);
    } else if (f.kind === "list") {
      const items = String(v ?? "")
        .split(/\r?\n|,/)
        .map((x) => x.trim())
        .filter(Boolean);
      if (items.length) out[f.name] = items;
    } else if (f.kind === "multi") {
      if (Array.isArray(v) && v.length) out[f.name] = v;
    } else if (f.kind === "integer" || f.kind === "number") {
      const text = String(v ?? "").trim();
      if (text !== "") out[f.name] = Number(text);
    } else {
      const text = String(v ?? "");
      if (text.trim() !== "") out[f.name] = f.kind === "secret" || f.kind === "textarea" ? text : text.trim();
    }
  }
  return out;
}

export interface ChoicesSource {
  (field: string, values: Values): Promise<string[]>;
}

interface Props {
  fields: Field[];
  values: Values;
  onChange: (values: Values) => void;
  /** Masked stored secrets, shown as placeholders ("stored: ********abcd"). */
  storedSecrets?: Record<string, string>;
  errors?: Record<string, string>;
  choices?: ChoicesSource;
  idPrefix?: string;
}

export function SchemaForm({ fields, values, onChange, storedSecrets = {}, errors = {}, choices, idPrefix }: Props) {
  const auto = useId();
  const prefix = idPrefix ?? auto;
  const set = (name: string, value: unknown) => onChange({ ...values, [name]: value });
  return (
    <div className="schema-form">
      {fields.map((f) => (
        <FieldRow
          key={f.name}
          field={f}
          id={`${prefix}-${f.name}`}
          value={values[f.name]}
          onValue={(v) => set(f.name, v)}
          stored={storedSecrets[f.name]}
          error={errors[f.name]}
          choices={choices && f.schema.choices ? () => choices(f.name, values) : undefined}
        />
      ))}
    </div>
  );
}

function FieldRow({
  field,
  id,
  value,
  onValue,
  stored,
  error,
  choices,
}: {
  field: Field;
  id: string;
  value: unknown;
  onValue: (v: unknown) => void;
  stored?: string;
  error?: string;
  choices?: () => Promise<string[]>;
}) {
  const s = field.schema;
  const label = s.title ?? field.name;
  const describedBy = [s.description ? `${id}-desc` : "", error ? `${id}-err` : ""].filter(Boolean).join(" ") || undefined;
  const common = {
    id,
    name: field.name,
    "aria-invalid": error ? true : undefined,
    "aria-describedby": describedBy,
    "aria-required": field.required || undefined,
  } as const;
  let input: React.ReactNode;
  switch (field.kind) {
    case "secret":
      input = (
        <input
          {...common}
          type="password"
          autoComplete="new-password"
          value={String(value ?? "")}
          placeholder={stored ? `stored: ${stored} (leave empty to keep)` : ""}
          onChange={(e) => onValue(e.target.value)}
        />
      );
      break;
    case "boolean":
      input = <input {...common} type="checkbox" checked={Boolean(value)} onChange={(e) => onValue(e.target.checked)} />;
      break;
    case "enum":
      input = (
        <select {...common} value={String(value ?? "")} onChange={(e) => onValue(e.target.value)}>
          {!field.required || s.default === undefined ? <option value="">{field.required ? "Choose…" : "(none)"}</option> : null}
          {field.options.map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      );
      break;
    case "multi": {
      const chosen = new Set(Array.isArray(value) ? (value as string[]) : []);
      input = (
        <fieldset {...common} className="multi">
          <legend className="sr-only">{label}</legend>
          {field.options.map((o) => (
            <label key={o} className="check">
              <input
                type="checkbox"
                checked={chosen.has(o)}
                onChange={(e) => {
                  const next = new Set(chosen);
                  if (e.target.checked) next.add(o);
                  else next.delete(o);
                  onValue(field.options.filter((x) => next.has(x)));
                }}
              />
              {o}
            </label>
          ))}
        </fieldset>
      );
      break;
    }
    case "list":
      input = <textarea {...common} rows={3} value={String(value ?? "")} placeholder="one per line" onChange={(e) => onValue(e.target.value)} />;
      break;
    case "textarea":
      input = <textarea {...common} rows={4} value={String(value ?? "")} onChange={(e) => onValue(e.target.value)} />;
      break;
    case "integer":
    case "number":
      input = (
        <input
          {...common}
          type="number"
          min={s.minimum}
          max={s.maximum}
          step={field.kind === "integer" ? 1 : "any"}
          value={String(value ?? "")}
          onChange={(e) => onValue(e.target.value)}
        />
      );
      break;
    default:
      input = <input {...common} type="text" value={String(value ?? "")} onChange={(e) => onValue(e.target.value)} />;
  }
  return (
    <div className={`field${error ? " has-error" : ""}`} data-field={field.name}>
      <label htmlFor={id}>
        {label}
        {field.required ? (
          <span className="required" aria-hidden="true">
            {" "}
            *
          </span>
        ) : null}
        {field.required ? <span className="sr-only"> (required)</span> : null}
      </label>
      {input}
      {choices ? <ChoicePicker label={label} current={value} onPick={(v) => onValue(field.kind === "list" ? appendLine(String(value ?? ""), v) : v)} load={choices} /> : null}
      {s.description ? (
        <p className="hint" id={`${id}-desc`}>
          {s.description}
        </p>
      ) : null}
      {error ? (
        <p className="field-error" id={`${id}-err`} role="alert">
          <Untrusted text={error} />
        </p>
      ) : null}
    </div>
  );
}

function appendLine(text: string, item: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.includes(item) ? text : [...lines, item].join("\n");
}

function ChoicePicker({ label, load, onPick }: { label: string; current: unknown; load: () => Promise<string[]>; onPick: (v: string) => void }) {
  const [state, setState] = useState<{ loading: boolean; items: string[] | null; error: string | null }>({ loading: false, items: null, error: null });
  const id = useId();
  return (
    <div className="choices">
      <button
        type="button"
        className="secondary small"
        disabled={state.loading}
        onClick={async () => {
          setState({ loading: true, items: null, error: null });
          try {
            setState({ loading: false, items: await load(), error: null });
          } catch (e) {
            setState({ loading: false, items: null, error: e instanceof Error ? e.message : String(e) });
          }
        }}
      >
        {state.loading ? "Loading…" : `List ${label.toLowerCase()}`}
      </button>
      {state.error ? (
        <p className="field-error" role="alert">
          <Untrusted text={state.error} />
        </p>
      ) : null}
      {state.items ? (
        state.items.length ? (
          <select
            aria-label={`Pick from the ${label.toLowerCase()} found`}
            id={id}
            defaultValue=""
            onChange={(e) => {
              if (e.target.value) onPick(e.target.value);
            }}
          >
            <option value="">Pick one ({state.items.length} found)…</option>
            {state.items.map((item) => (
              // The provider's names: an <option> holds text only, so its controls are shown, not isolated.
              <option key={item} value={item}>
                {revealBidi(item)}
              </option>
            ))}
          </select>
        ) : (
          <p className="hint">None found with these settings.</p>
        )
      ) : null}
    </div>
  );
}
