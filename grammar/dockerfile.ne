# Placeholder: replaced by the real Dockerfile grammar (issue 2).
@preprocessor typescript
main -> null
