"""ScratchClassic: classical machine learning from first principles, matched to scikit-learn.

Reading path: the package README, then ``notes/01-linear-models.md`` onwards.
"""
