import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { fieldsOf, initialValues, SchemaForm, toSettings, type Values } from "./SchemaForm";
import type { JsonSchema } from "../api";

// A schema shaped like Pydantic's output for a provider (the UI knows no provider by name).
const schema: JsonSchema = {
  type: "object",
  required: ["api_key", "region", "log_group_names"],
  properties: {
    api_key: { type: "string", title: "API Key", description: "From the provider.", format: "password", secret: true, writeOnly: true },
    region: { type: "string", title: "Region", enum: ["eu-west-1", "us-east-1"] },
    site: { type: "string", title: "Site", enum: ["a.example", "b.example"], default: "a.example" },
    log_group_names: { type: "array", title: "Log groups", items: { type: "string" }, choices: true },
    port: { type: "integer", title: "Port", default: 9200, minimum: 1, maximum: 65535 },
    verify_tls: { type: "boolean", title: "Verify TLS", default: true },
    base_url: { anyOf: [{ type: "string" }, { type: "null" }], default: null, title: "Base URL" },
    statuses: { type: "array", title: "Statuses", items: { enum: ["error", "warn"] } },
  },
};

function Harness({ stored, errors, choices }: { stored?: Values | null; errors?: Record<string, string>; choices?: (f: string, v: Values) => Promise<string[]> }) {
  const fields = fieldsOf(schema);
  const [values, setValues] = useState<Values>(() => initialValues(fields, stored ?? null));
  return (
    <>
      <SchemaForm fields={fields} values={values} onChange={setValues} storedSecrets={stored ? { api_key: "********abcd" } : {}} errors={errors} choices={choices} idPrefix="t" />
      <output data-testid="settings">{JSON.stringify(toSettings(fields, values))}</output>
    </>
  );
}

describe("SchemaForm", () => {
  it("renders each field from the schema with titles, descriptions, defaults and required marks", () => {
    render(<Harness />);
    expect(screen.getByLabelText(/API Key/)).toHaveAttribute("type", "password");
    expect(screen.getByText("From the provider.")).toBeInTheDocument();
    expect(screen.getByLabelText(/Region/).tagName).toBe("SELECT");
    expect(screen.getByLabelText(/Site/)).toHaveValue("a.example");
    expect(screen.getByLabelText(/Port/)).toHaveValue(9200);
    expect(screen.getByLabelText(/Verify TLS/)).toBeChecked();
    expect(screen.getByLabelText(/API Key/)).toHaveAttribute("aria-required", "true");
    expect(screen.getByLabelText(/Base URL/)).not.toHaveAttribute("aria-required");
    expect(screen.getAllByText("(required)")).toHaveLength(3);
  });

  it("never fills a stored secret back, and leaves it out when untouched", async () => {
    render(<Harness stored={{ api_key: "********abcd", region: "us-east-1", log_group_names: ["/app"], port: 443 }} />);
    const secret = screen.getByLabelText(/API Key/);
    expect(secret).toHaveValue("");
    expect(secret.getAttribute("placeholder")).toContain("********abcd");
    const sent = JSON.parse(screen.getByTestId("settings").textContent ?? "{}");
    expect(sent).not.toHaveProperty("api_key");
    expect(sent).toMatchObject({ region: "us-east-1", log_group_names: ["/app"], port: 443 });
    await userEvent.type(secret, "new-secret");
    expect(JSON.parse(screen.getByTestId("settings").textContent ?? "{}").api_key).toBe("new-secret");
  });

  it("sends lists one item per line, numbers as numbers and multi-choices as arrays", async () => {
    render(<Harness />);
    await userEvent.type(screen.getByLabelText(/Log groups/), "/a{enter}/b");
    await userEvent.clear(screen.getByLabelText(/Port/));
    await userEvent.type(screen.getByLabelText(/Port/), "9243");
    await userEvent.click(screen.getByLabelText("warn"));
    const sent = JSON.parse(screen.getByTestId("settings").textContent ?? "{}");
    expect(sent).toMatchObject({ log_group_names: ["/a", "/b"], port: 9243, statuses: ["warn"] });
    expect(sent).not.toHaveProperty("base_url");
  });

  it("shows the problem next to the field to fix", () => {
    render(<Harness errors={{ api_key: "Datadog refused the API key" }} />);
    const input = screen.getByLabelText(/API Key/);
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByRole("alert")).toHaveTextContent("Datadog refused the API key");
    expect(input.getAttribute("aria-describedby")).toContain("t-api_key-err");
  });

  it("offers choices for fields that have them and adds the picked one", async () => {
    const choices = vi.fn().mockResolvedValue(["/aws/lambda/shop", "/ecs/api"]);
    render(<Harness choices={choices} />);
    await userEvent.click(screen.getByRole("button", { name: "List log groups" }));
    const picker = await screen.findByLabelText("Pick from the log groups found");
    await userEvent.selectOptions(picker, "/ecs/api");
    expect(choices).toHaveBeenCalledWith("log_group_names", expect.any(Object));
    expect(screen.getByLabelText(/Log groups/)).toHaveValue("/ecs/api");
    expect(screen.queryByRole("button", { name: /List region/ })).toBeNull();
  });
});
