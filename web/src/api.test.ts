import { describe, expect, it } from "vitest";
import { fieldProblems, problemField } from "./api";

describe("error details (a list, as the README documents)", () => {
  it("names the field of a check failure", () => {
    const details = [{ field: "api_key", kind: "auth", message: "Datadog refused the API key." }];
    expect(problemField(details)).toBe("api_key");
    expect(fieldProblems(details)).toEqual({ api_key: "Datadog refused the API key." });
  });

  it("has no field for a check failure that blames none", () => {
    expect(problemField([{ field: null, kind: "unreachable", message: "Cannot reach it." }])).toBeNull();
    expect(fieldProblems([{ field: null, kind: "unreachable", message: "Cannot reach it." }])).toEqual({});
  });

  it("keys dotted paths by their top-level field", () => {
    const details = [
      { field: "settings.indexes.0", message: "too long" },
      { field: "poll_interval_seconds", message: "too small" },
    ];
    expect(problemField(details)).toBe("settings");
    expect(fieldProblems(details)).toEqual({ settings: "too long", poll_interval_seconds: "too small" });
  });

  it("ignores anything that is not a list of objects", () => {
    expect(problemField({ field: "api_key", kind: "auth" })).toBeNull();
    expect(problemField(undefined)).toBeNull();
    expect(fieldProblems([null, "x", 3])).toEqual({});
  });
});
