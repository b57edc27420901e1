pub fn database_url() -> String {
    String::new()
}
