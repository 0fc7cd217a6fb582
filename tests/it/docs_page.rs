//! The `/docs` page as a browser shows it: headless Chromium over the REST
//! APIs as the host mounts them.

use std::collections::BTreeSet;

use numbering_tests::{
    app::{TestApp, tenant_token},
    chromium::Chromium,
};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_lists_every_operation_and_tries_one_with_a_token_without_console_errors() {
    let app = TestApp::new().await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let (url, token) = (app.url("/docs"), tenant_token("acme"));
    let bearer = format!("Authorization: Bearer {token}");
    let expected = documented.len();

    // the browser is driven synchronously, beside the server's runtime
    let (listed, tried, errors) = tokio::task::spawn_blocking(move || {
        let mut browser = Chromium::launch();
        let page = browser.open(&url);
        page.wait_for(
            &mut browser,
            "every operation on the page",
            &format!("document.querySelectorAll('.opblock').length === {expected}"),
        );
        let listed = page.eval(
            &mut browser,
            "[...document.querySelectorAll('.opblock')].map(o => [
                o.querySelector('.opblock-summary-method').textContent,
                o.querySelector('.opblock-summary-path').dataset.path])",
        );

        // Authorize with a bearer token, then try an operation
        page.click(&mut browser, ".scheme-container button.authorize");
        page.type_into(&mut browser, ".modal-ux input", &token);
        page.click(&mut browser, ".modal-ux .auth-btn-wrapper button.authorize");
        page.wait_for(
            &mut browser,
            "the token to be accepted",
            "[...document.querySelectorAll('.modal-ux .auth-btn-wrapper button')]
                .some(b => b.textContent.trim() === 'Logout')",
        );
        page.click(&mut browser, ".modal-ux button.btn-done");
        let op = "#operations-portal-listLeases";
        page.click(&mut browser, &format!("{op} .opblock-summary-control"));
        page.click(&mut browser, &format!("{op} button.try-out__btn"));
        page.click(&mut browser, &format!("{op} button.execute"));
        let tried = page.wait_for(
            &mut browser,
            "the try-it answer",
            &format!(
                "(() => {{
                    const s = document.querySelector('{op} .live-responses-table tr.response .response-col_status');
                    const curl = document.querySelector('{op} .curl-command');
                    const body = document.querySelector('{op} .live-responses-table .response-col_description pre');
                    return s && curl && body && [s.textContent.trim(), curl.textContent, body.textContent];
                }})()"
            ),
        );
        (listed, tried, browser.errors())
    })
    .await
    .unwrap();

    let listed: BTreeSet<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o[0].as_str().unwrap().to_owned(),
                o[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        listed, documented,
        "the page lists exactly the document's operations"
    );
    assert_eq!(tried[0], "200", "the try-it call succeeds: {tried}");
    assert!(
        tried[1].as_str().unwrap().contains(&bearer),
        "the try-it call carries the token: {tried}"
    );
    assert!(tried[2].as_str().unwrap().contains("\"items\""), "{tried}");
    assert!(errors.is_empty(), "the console logs no error: {errors:#?}");
}
