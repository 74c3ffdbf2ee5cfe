import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { SessionHeading } from "./Session";
import { when } from "../format";
import { sessionDetail } from "../test/fixtures";

const ANY_CONTROL = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/;

const session = sessionDetail({
  page_url: "https://shop.example/\u202Efdp.exe",
  user_id: "\u202Eevil-user",
});

describe("the session page's heading", () => {
  it("keeps its own words and the start time outside the isolated user id, whose override is shown, not applied", () => {
    render(
      <MemoryRouter>
        <SessionHeading projectId={1} session={session} />
      </MemoryRouter>,
    );
    const heading = screen.getByRole("heading", { level: 1 });
    const user = heading.querySelector("bdi");
    expect(user).not.toBeNull();
    expect(user?.textContent).toBe("⟨U+202E⟩evil-user");
    const time = heading.querySelector(".muted");
    expect(time?.textContent).toBe(when(session.started_at));
    // The time is the dashboard's text: a sibling of the isolate, never inside it.
    expect(user?.contains(time ?? null)).toBe(false);
    expect(time?.contains(user)).toBe(false);
    expect(heading.firstChild?.textContent).toBe("Session of ");
    expect(heading.textContent).toBe(`Session of ⟨U+202E⟩evil-user ${when(session.started_at)}`);
    expect(heading.textContent).not.toMatch(ANY_CONTROL);
    // The page URL is isolated too.
    const url = screen.getByText((_, el) => el?.tagName === "BDI" && el.textContent === "https://shop.example/⟨U+202E⟩fdp.exe");
    expect(url).toBeInTheDocument();
  });

  it("names an anonymous user without an isolate of its own", () => {
    render(
      <MemoryRouter>
        <SessionHeading projectId={1} session={{ ...session, user_id: null }} />
      </MemoryRouter>,
    );
    const heading = screen.getByRole("heading", { level: 1 });
    expect(heading).toHaveTextContent(`Session of an anonymous user ${when(session.started_at)}`);
    expect(heading.querySelector("bdi")).toBeNull();
  });
});
