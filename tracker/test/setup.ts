// happy-dom names DOMTokenList without defining it; rrweb's polyfill reads its prototype.
const w = window as unknown as Record<string, unknown>;
if (w.DOMTokenList === undefined) w.DOMTokenList = document.createElement("div").classList.constructor;
// happy-dom's sendBeacon would go to the network; tests read beacons from here instead.
export const beacons: Array<{ url: string; body: unknown }> = [];
Object.defineProperty(navigator, "sendBeacon", {
  configurable: true,
  value: (url: string, body: unknown) => {
    beacons.push({ url, body });
    return true;
  },
});
// rrweb reads untainted prototypes from an about:blank iframe
const settings = (window as unknown as { happyDOM?: { settings: Record<string, unknown> } }).happyDOM?.settings;
if (settings) settings.enableIframePageLoading = true;
