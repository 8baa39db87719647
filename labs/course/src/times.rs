//! The time lines of the course, and the title of its speaker notes, in the reader's
//! language.
//!
//! Every page states how long it takes (`<p class="duration" data-minutes=...>`), each
//! chapter's first page its total (`<p class="chapter-total">`) and the welcome page the
//! course's (`<p class="course-total">`). They are HTML blocks, so gettext's extractor does
//! not see them (it takes Markdown's paragraphs, not raw HTML) and no catalog can translate
//! them. Their words follow from their numbers anyway: this module writes them again from the
//! `data-` attributes, in the book's language, when the quiz preprocessor runs (it runs in
//! every edition, in-process in the launcher and as a command for a stock `mdbook`). The
//! English text is left exactly as written; the book's tests check it against the numbers.
//! The speaker notes' `<summary>Speaker notes</summary>` is raw HTML too, and gets its
//! Vietnamese title here.

/// The speaker notes' title, as every page writes it.
const NOTES_TITLE: &str = "<summary>Speaker notes</summary>";

/// The same title in Vietnamese.
const NOTES_TITLE_VI: &str = "<summary>Ghi chú cho giảng viên</summary>";

/// One `data-name="value"` attribute of `tag`, as a number.
fn attribute(tag: &str, name: &str) -> Option<u64> {
    let key = format!("data-{name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    tag[start..end].parse().ok()
}

/// The Vietnamese words of one time line, from its opening tag's attributes; `page` is the
/// page's own minutes (from its duration line), which a chapter total leaves out of the sum
/// of its segments.
fn vietnamese(class: &str, tag: &str, page: Option<u64>) -> Option<String> {
    let minutes = attribute(tag, "minutes")?;
    Some(match class {
        "duration" => format!(
            "Khoảng {minutes} phút: đọc {}, lab {}, bài tập {}.",
            attribute(tag, "reading")?,
            attribute(tag, "lab")?,
            attribute(tag, "exercises")?
        ),
        "chapter-total" => {
            let page = page?;
            format!(
                "Cả chương: khoảng {minutes} phút ({page} cho trang này và {} cho các phần \
                 của chương).",
                minutes.saturating_sub(page)
            )
        }
        "course-total" => format!(
            "Toàn bộ khóa học: khoảng {minutes} phút, tức {} giờ {} phút (trang này {}, các \
             phần ở trên là phần còn lại; các phụ lục dùng để tra cứu nên không được tính).",
            minutes / 60,
            minutes % 60,
            page?
        ),
        _ => return None,
    })
}

/// `content` with its time lines worded in `language` (`vi`); any other language, or
/// none, leaves it unchanged.
pub fn localize(content: &str, language: Option<&str>) -> String {
    if !language.is_some_and(|l| l.starts_with("vi")) {
        return content.to_string();
    }
    let page = content
        .find("<p class=\"duration\"")
        .and_then(|at| attribute(&content[at..content[at..].find('>')? + at], "minutes"));
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(at) = rest.find("<p class=\"") {
        let after = &rest[at + "<p class=\"".len()..];
        let class = &after[..after.find('"').unwrap_or(0)];
        let (Some(tag_end), Some(close)) = (rest[at..].find('>'), rest[at..].find("</p>")) else {
            break;
        };
        let tag = &rest[at..at + tag_end];
        match vietnamese(class, tag, page) {
            Some(words) if tag_end < close => {
                out.push_str(&rest[..at + tag_end + 1]);
                out.push_str(&words);
                out.push_str("</p>");
                rest = &rest[at + close + "</p>".len()..];
            }
            _ => {
                out.push_str(&rest[..at + tag_end + 1]);
                rest = &rest[at + tag_end + 1..];
            }
        }
    }
    out.push_str(rest);
    out.replace(NOTES_TITLE, NOTES_TITLE_VI)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page's duration, a chapter's total and the course's total come out in Vietnamese
    /// with the same numbers; English and other HTML are left as they are.
    #[test]
    fn time_lines_in_vietnamese() {
        let page = "# Rooms\n<p class=\"duration\" data-minutes=\"3\" data-reading=\"3\" \
            data-lab=\"0\" data-exercises=\"0\">About 3 minutes: reading 3, lab 0, exercises 0.</p>\n\
            <p class=\"vi-subtitle\">Room</p>\n\
            <p class=\"chapter-total\" data-minutes=\"62\">The whole chapter: about 62 minutes \
            (3 for this page and 59 for its segments).</p>\n\
            <p class=\"course-total\" data-minutes=\"1126\">The whole course...</p>\n\
            <details><summary>Speaker notes</summary>\n\n- a note\n\n</details>\n";
        let vi = localize(page, Some("vi"));
        assert!(
            vi.contains(">Khoảng 3 phút: đọc 3, lab 0, bài tập 0.</p>"),
            "{vi}"
        );
        assert!(
            vi.contains(
                ">Cả chương: khoảng 62 phút (3 cho trang này và 59 cho các phần của chương).</p>"
            ),
            "{vi}"
        );
        assert!(
            vi.contains("khoảng 1126 phút, tức 18 giờ 46 phút (trang này 3"),
            "{vi}"
        );
        assert!(vi.contains("<p class=\"vi-subtitle\">Room</p>"), "{vi}");
        assert!(
            vi.contains("<details><summary>Ghi chú cho giảng viên</summary>"),
            "{vi}"
        );
        assert!(
            vi.contains("data-minutes=\"62\""),
            "the attributes stay: {vi}"
        );
        assert!(!vi.contains(" minutes"), "{vi}");
        assert_eq!(localize(page, Some("en")), page);
        assert_eq!(localize(page, None), page);
    }
}
