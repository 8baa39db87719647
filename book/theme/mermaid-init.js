// Renders the book's ```mermaid code blocks as diagrams, with the mermaid script committed
// next to this file (theme/mermaid.min.js, mermaid 11, MIT licence): no network, no
// preprocessor, so a stock `mdbook serve book` shows the same diagrams as the launcher.
(() => {
    const darkThemes = ['ayu', 'navy', 'coal'];
    const html = document.documentElement;
    const dark = darkThemes.some((t) => html.classList.contains(t));

    // mdBook renders ```mermaid as <pre><code class="language-mermaid">. Mermaid wants the
    // diagram source as the text of an element with class "mermaid"; textContent ignores any
    // highlighting markup that may have been added.
    for (const code of document.querySelectorAll('code.language-mermaid')) {
        const pre = code.parentElement;
        const div = document.createElement('pre');
        div.className = 'mermaid';
        div.textContent = code.textContent;
        pre.replaceWith(div);
    }

    mermaid.initialize({ startOnLoad: false, theme: dark ? 'dark' : 'default', securityLevel: 'strict' });
    mermaid.run({ querySelector: 'pre.mermaid' });

    // The diagrams are drawn once with the theme's colours: redraw after a theme switch.
    for (const button of document.querySelectorAll('.theme')) {
        button.addEventListener('click', () => {
            const nowDark = darkThemes.includes(button.id.replace('mdbook-theme-', ''));
            if (nowDark !== dark) window.location.reload();
        });
    }
})();
