// Building the page's elements: text always goes in as text (never HTML), so nothing the server or a customer's
// name holds can become markup.

/** el("li", {class: "call", dataset: {id: 7}}, child, "text", …); false/null children are skipped. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "on") for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  fill(node, ...children);
  return node;
}

/** Replaces ``node``'s children (as ``el`` takes them). */
export function fill(node, ...children) {
  const kept = children.flat(2).filter((child) => child !== false && child !== null && child !== undefined && child !== "");
  node.replaceChildren(...kept.map((child) => (child instanceof Node ? child : String(child))));
}

/** Calls ``fn`` once input has paused for ``ms``. */
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Calls ``more()`` whenever ``sentinel`` comes within a screen of the viewport. An observer reports only changes,
 * so after a page that leaves the sentinel in view the caller calls the returned ``recheck()``. */
export function whenNear(sentinel, more) {
  const observer = new IntersectionObserver((entries) => entries.some((entry) => entry.isIntersecting) && more(), {
    rootMargin: "0px 0px 600px 0px",
  });
  observer.observe(sentinel);
  return () => {
    observer.unobserve(sentinel);
    observer.observe(sentinel);
  };
}
