// The demo shop's page script: catalogue, cart (localStorage) and checkout.
// Everything is rendered with textContent; the backend's answers are never parsed as HTML.
"use strict";

(function () {
  var config = JSON.parse(document.getElementById("shop-config").textContent);
  var CART_KEY = "replaylink-demo-cart";

  function loadCart() {
    try {
      var lines = JSON.parse(localStorage.getItem(CART_KEY) || "[]");
      return Array.isArray(lines) ? lines : [];
    } catch (e) {
      return [];
    }
  }
  function saveCart(lines) {
    localStorage.setItem(CART_KEY, JSON.stringify(lines));
    showCount();
  }
  function showCount() {
    var count = loadCart().reduce(function (n, line) { return n + line.quantity; }, 0);
    document.getElementById("cart-count").textContent = count ? "Cart: " + count : "Cart is empty";
  }
  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  // The seed page's pattern: send the session token to our backend on each request we track.
  function headers() {
    var h = { Accept: "application/json", "Content-Type": "application/json" };
    var or = window.OpenReplay;
    var token = or && typeof or.getSessionToken === "function" ? or.getSessionToken() : undefined;
    if (typeof token === "string" && token) {
      h["X-OpenReplay-SessionToken"] = token;
    }
    return h;
  }
  function api(method, path, body) {
    return fetch(path, { method: method, headers: headers(), body: body ? JSON.stringify(body) : undefined })
      .then(function (response) {
        return response.json().then(function (data) { return { status: response.status, data: data }; });
      });
  }

  function catalogue() {
    api("GET", "/api/products").then(function (answer) {
      var list = document.getElementById("products");
      answer.data.products.forEach(function (p) {
        var item = el("li", null, { "data-sku": p.sku });
        item.appendChild(el("h2", p.name));
        item.appendChild(el("p", p.blurb));
        item.appendChild(el("p", "$" + p.price, { class: "price" }));
        var button = el("button", "Add to cart", { type: "button", "data-add": p.sku });
        button.addEventListener("click", function () {
          var lines = loadCart();
          var line = lines.find(function (l) { return l.sku === p.sku; });
          if (line) line.quantity += 1; else lines.push({ sku: p.sku, name: p.name, price: p.price, quantity: 1 });
          saveCart(lines);
          button.textContent = "Added";
        });
        item.appendChild(button);
        list.appendChild(item);
      });
    });
  }

  function cart() {
    var body = document.querySelector("#cart-lines tbody");
    body.textContent = "";
    var lines = loadCart();
    var total = 0;
    lines.forEach(function (line, index) {
      var row = el("tr");
      row.appendChild(el("td", line.name));
      row.appendChild(el("td", line.quantity));
      row.appendChild(el("td", "$" + (Number(line.price) * line.quantity).toFixed(2)));
      var cell = el("td");
      var remove = el("button", "Remove", { type: "button" });
      remove.addEventListener("click", function () {
        lines.splice(index, 1);
        saveCart(lines);
        cart();
      });
      cell.appendChild(remove);
      row.appendChild(cell);
      body.appendChild(row);
      total += Number(line.price) * line.quantity;
    });
    document.getElementById("cart-total").textContent = lines.length
      ? "Total: $" + total.toFixed(2)
      : "Your cart is empty: pick something in the catalogue.";
  }

  function checkout() {
    var form = document.getElementById("checkout-form");
    var result = document.getElementById("checkout-result");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(form);
      var items = loadCart().map(function (l) { return { sku: l.sku, quantity: l.quantity }; });
      if (!items.length) items = [{ sku: "mug", quantity: 1 }];
      result.textContent = "Paying…";
      result.className = "";
      api("POST", "/api/checkout", {
        items: items,
        name: data.get("name"),
        card_number: data.get("card_number"),
        shipping: data.get("shipping"),
        split_between: Number(data.get("split_between")),
      }).then(function (answer) {
        if (answer.status === 200) {
          result.textContent = "Order " + answer.data.order_id + " confirmed: $" + answer.data.total + ".";
          result.className = "ok";
          saveCart([]);
        } else {
          var error = answer.data && answer.data.error ? answer.data.error : { message: "HTTP " + answer.status };
          result.textContent = "Checkout failed: " + error.message +
            " This backend error is now in the log store; ReplayLink puts it on this session's timeline.";
          result.className = "failed";
        }
      }).catch(function (e) {
        result.textContent = "The shop did not answer: " + e;
        result.className = "failed";
      });
    });
  }

  showCount();
  ({ catalogue: catalogue, cart: cart, checkout: checkout })[config.page]();
})();
