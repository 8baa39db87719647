//! The lab's page in Vietnamese: every string a reader sees has its translation in the
//! page's table (kit's translator applies it with `?lang=vi` or under the course's `/vi/`).

/// Every visible string of the page is translated into Vietnamese.
#[test]
fn the_page_is_translated_into_vietnamese() {
    let found = kit::page::untranslated(lab_gateway::PAGE, "vi").expect("the page's translations");
    assert!(
        found.missing.is_empty(),
        "{} of the page's {} strings have no Vietnamese translation: {:#?}",
        found.missing.len(),
        found.strings,
        found.missing
    );
}
