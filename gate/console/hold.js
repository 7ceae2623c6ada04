  // holdDecisions returns a handler of the flow's events that keeps a decision
  // on screen for holdMs: the flow is ready for the next person at once, but
  // whoever reads the screen must see who was refused and why. Anything but
  // "ready" (the next person) replaces it at once.
  function holdDecisions(show, holdMs) {
    let holdUntil = 0, held = null;
    return function (ev) {
      if (ev.state === "admitted" || ev.state === "denied") holdUntil = Date.now() + holdMs;
      if (ev.state === "ready" && Date.now() < holdUntil) {
        if (!held) setTimeout(() => { if (held) { const h = held; held = null; show(h); } }, holdUntil - Date.now());
        held = ev;
        return;
      }
      held = null;
      show(ev);
    };
  }
