// The article page: bring the cited passage to the middle of the screen and give it focus, so
// a keyboard or screen-reader user starts reading there. Without JavaScript, the link's
// #cited fragment still scrolls to it.

const cited = document.getElementById("cited");
if (cited) {
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  cited.scrollIntoView({ block: "center", behavior: reducedMotion ? "auto" : "smooth" });
  cited.focus({ preventScroll: true });
  cited.classList.add("arrived");
}
