//! Reading an answer from a network peer (a verify endpoint, a registry) with a size cap: a
//! peer that answers a gigabyte never gets it into memory.

/// An answer's body, read to `limit` bytes and no further; the error says so, or what broke.
pub async fn bounded(mut answer: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    if answer
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(format!("the answer is larger than the {limit} bytes read"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|error| super::aws::describe(&error))?
    {
        if body.len() + chunk.len() > limit {
            return Err(format!("the answer is larger than the {limit} bytes read"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
