"""What comes out of mde-hub: colour maps, depth and point-cloud files, the files `predict` and the app write, data
previews, prediction figures, model cards and Hub uploads."""
