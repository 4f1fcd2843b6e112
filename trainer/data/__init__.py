"""The trainer's data, by concern: ``items`` (training questions: loading, the fit / holdout split, test
refusal, JSON for the rewards), ``images`` (decoding, downscaling, encoding, the run's image cache), ``rows``
(prompts and targets per role, with the same prompts and chat messages as inference), ``image_labels``
(what each training image shows, from its own annotations), ``triage`` (the triage doctor's image sources)
and ``other_images`` (specialist rows on images outside VQA-RAD / SLAKE)."""
