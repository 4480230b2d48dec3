//! [`Secret<T>`]: a credential that never shows up in logs and is wiped from memory on drop.

use std::fmt;

use zeroize::Zeroize;

/// A value that must not leak: passwords, tokens, SASL responses, discarded literal bytes.
///
/// `Debug` and `Display` print `[REDACTED]` in every build profile (a secret that prints
/// itself in debug builds leaks in CI logs), and the value is zeroized when the `Secret` is
/// dropped. The only way to read it is [`Secret::expose`], so every use is greppable.
///
/// ```
/// use mailwire_codec::Secret;
///
/// let password = Secret::new(String::from("tanstaaf"));
/// assert_eq!(format!("{password:?}"), "Secret([REDACTED])");
/// assert_eq!(password.to_string(), "[REDACTED]");
/// assert_eq!(password.expose(), "tanstaaf");
/// ```
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Reads the value. Every call site is a place where the secret may escape: keep them few.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Mutable access, for filling a secret buffer in place.
    pub fn expose_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Zeroize + Default> Default for Secret<T> {
    fn default() -> Self {
        Self(T::default())
    }
}

impl<T: Zeroize + PartialEq> PartialEq for Secret<T> {
    /// Equality for tests and maps; credential checks use constant-time comparison instead.
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<T: Zeroize + Eq> Eq for Secret<T> {}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_in_debug_and_display() {
        let s = Secret::new(b"hunter2".to_vec());
        let shown = format!("{s:?} {s} {s:#?}");
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("REDACTED"));
        let nested = format!("{:?}", Some((1, Secret::new(String::from("pw")))));
        assert!(!nested.contains("pw\""));
    }

    #[test]
    fn zeroize_clears_the_value() {
        // Drop calls zeroize; zeroize on String/Vec clears the content (and the spare
        // capacity), which is what Drop relies on.
        let mut s = Secret::new(String::from("secret-value"));
        s.expose_mut().zeroize();
        assert!(s.expose().is_empty());
        let mut v = Secret::new(vec![1u8, 2, 3]);
        v.0.zeroize();
        assert!(v.expose().is_empty());
    }

    #[test]
    fn clone_and_eq() {
        let a = Secret::new(String::from("x"));
        let b = a.clone();
        assert_eq!(a, b);
        assert_eq!(Secret::<String>::default().expose(), "");
    }
}
