//! Examples in the docs and the quick start are real: they parse, validate and import cleanly.

use portico_model::definition::ApiDefinition;

fn read(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

#[test]
fn the_definition_example_in_the_docs_is_valid() {
    let doc = read("docs/definitions.md");
    let start = doc.find("```json\n").expect("a JSON example") + "```json\n".len();
    let end = start + doc[start..].find("```").expect("the end of the example");
    let definition: ApiDefinition =
        serde_json::from_str(&doc[start..end]).expect("the example parses");
    assert!(
        definition.problems().is_empty(),
        "{:?}",
        definition.problems()
    );
    assert_eq!(definition.routes.len(), 3);
}

#[test]
fn the_quick_start_example_imports_without_warnings() {
    let imported = portico_control::openapi::import::import(
        read("infra/examples/petstore.yaml").as_bytes(),
        None,
    )
    .unwrap_or_else(|p| panic!("{p:?}"));
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    let keys: Vec<String> = imported.definition.routes.iter().map(|r| r.key()).collect();
    assert_eq!(
        keys,
        ["ANY /echo/{proxy+}", "GET /pets", "GET /pets/{petId}"]
    );
}

#[test]
fn the_admin_openapi_document_is_served_as_committed() {
    let committed: serde_json::Value =
        serde_json::from_str(&read("docs/admin-openapi.json")).expect("JSON");
    let served: serde_json::Value =
        serde_json::from_str(portico_control::ADMIN_OPENAPI).expect("JSON");
    assert_eq!(committed, served);
    assert_eq!(committed["paths"].as_object().map(|p| p.len()), Some(23));
}
