// The language picker: a button in the menu bar of every page that opens the same page in
// the other edition of the book (the English one, and the Vietnamese one built from
// po/vi.po). As in Comprehensive Rust, the editions share one layout: a translated edition
// is a folder named after its language inside the English book, so `rooms.html` and
// `vi/rooms.html` are one page in two languages, and switching only adds or removes the
// `vi/` prefix. This works wherever the book is served from (the course launcher at /, a
// stock `mdbook build`'s folder, a sub-path), because the prefix is found from mdBook's own
// `path_to_root`, not from the address.
(function () {
    "use strict";

    // Every edition, by its `book.language` code, with its name in its own language.
    const LANGUAGES = [
        { code: "en", name: "English" },
        { code: "vi", name: "Tiếng Việt" },
    ];
    // The picker's own words, in the page's language.
    const LABEL = { en: "Change language", vi: "Đổi ngôn ngữ" };

    // mdBook writes `book.language` into <html lang>; an edition it does not know is English.
    const lang = document.documentElement.lang;
    const current = LANGUAGES.some((l) => l.code === lang) ? lang : "en";

    // The root of this edition, then of the English book that holds every edition.
    // `path_to_root` is a global declared by mdBook's page template ("" on a top-level page,
    // "../" one folder down, an absolute URL on the 404 page).
    const editionRoot = new URL(
        typeof path_to_root === "string" && path_to_root !== "" ? path_to_root : "./",
        location.href,
    );
    const englishRoot = current === "en" ? editionRoot : new URL("../", editionRoot);

    // This page's path inside its edition, with its query and anchor: the same in every
    // edition. A page outside the edition (not expected) maps to the edition's first page.
    const here = location.pathname + location.search + location.hash;
    const page = location.pathname.startsWith(editionRoot.pathname)
        ? here.slice(editionRoot.pathname.length)
        : "";

    /** The address of this page in the edition `code`. */
    function pageIn(code) {
        const root = code === "en" ? englishRoot : new URL(code + "/", englishRoot);
        return new URL(page, root).href;
    }

    const buttons = document.querySelector("#mdbook-menu-bar .right-buttons");
    if (!buttons) {
        return;
    }

    const toggle = document.createElement("button");
    toggle.id = "language-toggle";
    toggle.className = "icon-button";
    toggle.type = "button";
    toggle.title = LABEL[current];
    toggle.setAttribute("aria-label", LABEL[current]);
    toggle.setAttribute("aria-haspopup", "true");
    toggle.setAttribute("aria-expanded", "false");
    toggle.setAttribute("aria-controls", "language-list");
    // The language's code as the icon: readable in any theme, no icon font needed.
    toggle.textContent = current.toUpperCase();

    const list = document.createElement("ul");
    list.id = "language-list";
    list.className = "theme-popup language-popup";
    list.setAttribute("role", "menu");
    list.setAttribute("aria-label", LABEL[current]);
    list.hidden = true;
    for (const language of LANGUAGES) {
        const item = document.createElement("li");
        item.setAttribute("role", "none");
        const link = document.createElement("a");
        link.className = "theme";
        link.setAttribute("role", "menuitem");
        link.id = "language-" + language.code;
        link.lang = language.code;
        link.hreflang = language.code;
        link.href = pageIn(language.code);
        link.textContent = language.name;
        if (language.code === current) {
            link.setAttribute("aria-current", "true");
            link.classList.add("theme-selected");
        }
        item.appendChild(link);
        list.appendChild(item);
    }

    function show(open) {
        list.hidden = !open;
        toggle.setAttribute("aria-expanded", String(open));
    }
    toggle.addEventListener("click", (event) => {
        event.stopPropagation();
        show(list.hidden);
    });
    document.addEventListener("click", (event) => {
        if (!list.contains(event.target)) {
            show(false);
        }
    });
    document.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
            show(false);
        }
    });

    const wrapper = document.createElement("div");
    wrapper.className = "language-picker";
    wrapper.appendChild(toggle);
    wrapper.appendChild(list);
    buttons.insertBefore(wrapper, buttons.firstChild);
})();
