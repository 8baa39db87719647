// Answers the quizzes at the end of each chapter, in the page and offline. The questions are
// HTML written by the course's quiz preprocessor (labs/course/src/quiz.rs) from the TOML
// files in book/quizzes/: one <form class="quiz-question"> per question, the right option
// marked `data-correct`, the accepted short answers in `data-accept`. Checking shows whether
// the answer was right and, either way, the explanation; the reader may try again.
(() => {
    // The page's language decides the words: the Vietnamese edition's pages say `lang="vi"`.
    const vietnamese = (document.documentElement.lang || '').startsWith('vi');
    const words = vietnamese
        ? {
            choose: 'Hãy chọn hoặc nhập một câu trả lời trước.',
            right: 'Chính xác.',
            wrong: 'Chưa đúng: đọc lời giải thích bên dưới, rồi thử lại.',
        }
        : {
            choose: 'Choose or type an answer first.',
            right: 'Correct.',
            wrong: 'Not quite: read why below, then try again.',
        };
    const normalise = (text) => text.trim().toLowerCase().replace(/\s+/g, ' ');

    const check = (form) => {
        const result = form.querySelector('.quiz-result');
        let answered = false;
        let right = false;
        if (form.dataset.kind === 'choice') {
            const picked = form.querySelector('input[type=radio]:checked');
            answered = !!picked;
            right = answered && picked.hasAttribute('data-correct');
        } else {
            const input = form.querySelector('.quiz-text');
            const given = normalise(input.value);
            answered = given.length > 0;
            right = answered && input.dataset.accept.split('\u001f').map(normalise).includes(given);
        }
        result.hidden = false;
        if (!answered) {
            result.textContent = words.choose;
            result.className = 'quiz-result';
            return;
        }
        result.textContent = right ? words.right : words.wrong;
        result.className = 'quiz-result ' + (right ? 'quiz-right' : 'quiz-wrong');
        form.classList.toggle('quiz-answered-right', right);
        form.querySelector('.quiz-explanation').hidden = false;
    };

    for (const form of document.querySelectorAll('form.quiz-question')) {
        form.addEventListener('submit', (event) => {
            event.preventDefault();
            check(form);
        });
    }
})();
