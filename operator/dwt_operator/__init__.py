"""The Discover Weekly operator: CommunityJob custom resources → Ray jobs (kopf).

Named ``dwt_operator``, never ``operator``, which would shadow the standard library.
"""
