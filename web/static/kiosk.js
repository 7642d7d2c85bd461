// Rotate the slides (every 12 s unless the page sets data-interval); the page reloads itself
// every 10 minutes (meta refresh), so new kits and anniversaries appear without anyone touching it.
(function () {
  var slides = document.querySelectorAll(".slide");
  if (slides.length < 2) return;
  var seconds = parseInt(document.body.getAttribute("data-interval"), 10) || 12;
  var current = 0;
  setInterval(function () {
    slides[current].classList.remove("active");
    current = (current + 1) % slides.length;
    slides[current].classList.add("active");
    document.body.setAttribute("data-slide", String(current));
  }, seconds * 1000);
})();
