// Rotate the slides every 12 seconds; the page reloads itself every 10 minutes (meta refresh).
(function () {
  var slides = document.querySelectorAll(".slide");
  if (slides.length < 2) return;
  var current = 0;
  setInterval(function () {
    slides[current].classList.remove("active");
    current = (current + 1) % slides.length;
    slides[current].classList.add("active");
    document.body.setAttribute("data-slide", String(current));
  }, 12000);
})();
