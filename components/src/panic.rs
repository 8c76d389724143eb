//! What a caught panic said.

/// The message of a panic's payload (`panic!`'s `&str` or `String`);
/// `None` for any other payload, where each caller says what it knows.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}
