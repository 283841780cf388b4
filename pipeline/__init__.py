"""pm2gan's pipeline, in layers. Each package imports only the ones listed before it
(tests/test_imports.py holds it to that, function-level imports included):

    files          writing files whole, reading settings strictly, figures, the code's version
    data           the datasets and their fixed splits
    training       fit(): a family trained from a config and data, and nothing else
    evaluation     a trained model scored: metrics, samplers, the evaluation classifier, baselines, theory
    settings       params.yaml typed and validated, a study expanded into trials
    trial          one trial: trained (or read from the trial store), evaluated, its result
    studies        the talk's claims: what each study compares and its verdict rule
    reporting      tables, figures and the report pages, from the studies' results
    tracking       MLflow: the trials' runs and each study's comparison
    orchestration  Ray Tune sweeps, recovery, the cluster, dvc.yaml's stages
    cli            `pm2gan <command>`
"""

# The layers, lowest first: a module may import its own layer's modules and those of layers
# before it, never a later one. pipeline's top-level modules (cli, __main__) sit above them all.
LAYERS = ("files", "data", "training", "evaluation", "settings", "trial", "studies", "reporting", "tracking",
          "orchestration")
