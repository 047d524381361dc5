"""``kube_api``: the subset of the Kubernetes REST API firecontrol serves, over the same
Firestore documents and the same validation as the functions and the CLI.

The apiserver's handler chain in a few modules (docs/kube-api.md): ``app`` (decode,
route, encode, errors as ``Status``), ``routes``, ``resources`` (what is served),
``discovery`` and ``openapi``, ``reads`` (get, list), ``writes`` (create, update, patch),
``checks`` (route identity, fieldValidation, the generation rule), ``deletion``,
``patch``, ``watch``, ``tables``, ``label_selectors`` and ``field_selectors``,
``subresources``.
"""
