//! Moderation: pure rules: decisions, write plans, visibility and counters, with no I/O.

#[allow(unused_imports)]
use super::*;

/// Flags text that is severely or moderately profane, offensive, sexual or mean.
pub fn check_text<'a>(texts: impl IntoIterator<Item = &'a str>) -> Verdict {
    let threshold = (Type::PROFANE | Type::OFFENSIVE | Type::SEXUAL | Type::MEAN)
        & (Type::MODERATE | Type::SEVERE);
    let flagged = texts.into_iter().any(|text| {
        let analysis = Censor::from_str(text).analyze();
        analysis.is(threshold)
    });
    if flagged {
        Verdict::Flagged
    } else {
        Verdict::Clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_profile_text_is_clean() {
        let verdict = check_text(["I teach Rust and love hiking", "Data engineer", "Lisbon"]);
        assert_eq!(verdict, Verdict::Clean);
    }

    #[test]
    fn abusive_text_is_flagged() {
        assert_eq!(
            check_text(["hello", "you are a f u c k i n g idiot"]),
            Verdict::Flagged
        );
    }

    #[test]
    fn a_moderation_job_has_a_stable_wire_form() {
        let job = ModerationJob::ModerateProfile {
            user_id: UserId::parse("u1").unwrap(),
            version: 3,
        };

        let json = serde_json::to_value(&job).unwrap();

        assert_eq!(
            json,
            serde_json::json!({"kind": "moderateProfile", "userId": "u1", "version": 3})
        );
    }
}
