// Every lab page's translator, inserted by kit::page::static_page at the top of its <head>.
// A page carries its own words in other languages, as JSON in its <head>, in a script
// element of type "application/json" with the id "translations":
//
//   {"vi": {"Connect": "Kết nối", "intro": "Trình duyệt của bạn <em>nói chuyện</em> ..."}}
//
// (This file is inlined in a script element, so it never spells that element's end tag.)
//
// A text node whose whole text (spaces aside) is a key is replaced by its translation, and so
// are the placeholder, title, aria-label and alt attributes; an element with
// data-i18n="key" gets the translation of "key" as its HTML (for a sentence with markup in
// it, whose word order changes in the other language). Text the page's script writes later
// (states, errors, results) is translated as it appears, by a MutationObserver, and the
// script can also call translate("English text") itself. What is not in the table (frames,
// JSON, numbers, ids, code) is left as it is: those are the same in every language, and so
// is an element marked translate="no" (the #state of every page: tests read its names).
//
// The language: ?lang=vi in the page's address, else the edition the page is served in
// (/vi/labs/... under the course launcher), else the language of the book page embedding it.
(function () {
    "use strict";
    function chooseLanguage() {
        const asked = new URLSearchParams(location.search).get("lang");
        if (asked) return asked;
        const edition = location.pathname.match(/^\/([a-z]{2})\/labs\//);
        if (edition) return edition[1];
        try {
            if (window.parent !== window && window.parent.document.documentElement.lang) {
                return window.parent.document.documentElement.lang;
            }
        } catch (_) {
            // An embedding page on another origin: its language cannot be read.
        }
        return "en";
    }
    const language = chooseLanguage();
    let table = null;
    function words() {
        if (table === null) {
            const source = document.getElementById("translations");
            if (!source) return null; // not parsed yet: try again at the next change
            try {
                table = JSON.parse(source.textContent)[language] || {};
            } catch (error) {
                console.error("the page's translations are not valid JSON", error);
                table = {};
            }
        }
        return table;
    }
    /** The translation of `text` in the page's language, or `text` itself. */
    function translate(text) {
        const t = words();
        const key = text.replace(/\s+/g, " ").trim();
        return t && Object.prototype.hasOwnProperty.call(t, key) ? t[key] : text;
    }
    window.translate = translate;
    window.pageLanguage = language;
    if (language === "en") return;

    const SKIP = new Set(["SCRIPT", "STYLE", "CODE", "PRE", "TEXTAREA"]);
    const ATTRIBUTES = ["placeholder", "title", "aria-label", "alt"];
    function translateText(node) {
        const text = node.nodeValue;
        if (!text.trim()) return;
        const parent = node.parentNode;
        if (!parent || SKIP.has(parent.nodeName)) return;
        if (parent.closest("[data-i18n], [translate=no]")) return;
        const words = text.trim();
        const translated = translate(words);
        if (translated === words) return; // not in the table, or the same in both languages
        // Keep the spaces around the words, which separate them from their neighbours.
        const done = text.match(/^\s*/)[0] + translated + text.match(/\s*$/)[0];
        // Only a change is written: writing is a mutation, which brings the observer back here.
        if (done !== text) node.nodeValue = done;
    }
    function translateElement(element) {
        if (element.closest("[translate=no]")) return;
        const key = element.getAttribute("data-i18n");
        const t = words();
        if (key && t && Object.prototype.hasOwnProperty.call(t, key) && !SKIP.has(element.nodeName)) {
            element.innerHTML = t[key];
        }
        for (const name of ATTRIBUTES) {
            const value = element.getAttribute(name);
            if (value) {
                const done = translate(value);
                if (done !== value) element.setAttribute(name, done);
            }
        }
    }
    function walk(root) {
        if (root.nodeType === Node.TEXT_NODE) return translateText(root);
        if (root.nodeType !== Node.ELEMENT_NODE) return;
        translateElement(root);
        if (SKIP.has(root.nodeName)) return;
        for (const child of Array.from(root.childNodes)) walk(child);
    }
    document.documentElement.lang = language;
    new MutationObserver((records) => {
        for (const record of records) {
            if (record.type === "characterData") translateText(record.target);
            else if (record.type === "attributes") translateElement(record.target);
            else for (const node of record.addedNodes) walk(node);
        }
    }).observe(document.documentElement, {
        subtree: true,
        childList: true,
        characterData: true,
        attributes: true,
        attributeFilter: ATTRIBUTES,
    });
    // What was parsed before this script ran (the <title>) and, once the document is
    // complete, everything again: a text node parsed in pieces is whole by then.
    walk(document.documentElement);
    document.addEventListener("DOMContentLoaded", () => walk(document.body));
})();
