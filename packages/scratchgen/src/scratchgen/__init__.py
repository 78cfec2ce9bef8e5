"""ScratchGen: generative modelling from first principles, on the scratchcore engine.

Reading path: the package README, then ``notes/01-probability-and-likelihood.md`` onwards.
"""
