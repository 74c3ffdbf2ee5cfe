// A small adapter over @rrweb/replay: the page talks to this, not to rrweb.
// The Replayer rebuilds recorded pages in an iframe sandboxed with "allow-same-origin" only:
// recorded scripts never run (UNSAFE_replayCanvas stays off).
import { Replayer } from "@rrweb/replay";
import "@rrweb/replay/dist/style.css";
import type { RrwebEvent } from "./segments";

export interface PlayerAdapter {
  /** Current position, ms from the recording's first event. */
  currentTime(): number;
  play(offsetMs: number): void;
  pause(offsetMs?: number): void;
  addEvents(events: RrwebEvent[]): void;
  isPlaying(): boolean;
  destroy(): void;
}

export function createPlayer(root: HTMLElement, first: RrwebEvent[], onFinish: () => void): PlayerAdapter {
  const replayer = new Replayer(first as never, {
    root,
    liveMode: false,
    mouseTail: false,
    triggerFocus: false,
    UNSAFE_replayCanvas: false,
    showWarning: false,
    skipInactive: false,
    speed: 1,
  });
  let playing = false;
  replayer.on("finish", () => {
    playing = false;
    onFinish();
  });
  return {
    currentTime: () => replayer.getCurrentTime(),
    play: (offset) => {
      playing = true;
      replayer.play(offset);
    },
    pause: (offset) => {
      playing = false;
      replayer.pause(offset);
    },
    addEvents: (events) => {
      for (const e of events) replayer.addEvent(e as never);
    },
    isPlaying: () => playing,
    destroy: () => {
      playing = false;
      replayer.pause();
      replayer.destroy();
    },
  };
}
