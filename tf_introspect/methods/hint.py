"""Hint: FitNets (Romero et al. 2015; paper 5.3).

A learned adapter (a 1x1 convolution, trained with the student) maps the student's hint layer
onto the teacher's representation at the same layer (the 2nd stage, ``stage2``, as in the
paper); the squared error is added to the student's loss:
``loss = hint_weight * mean((adapter(s) - t)^2) + lam * CE(p, y)``, lam = 0.1 as the paper
sets for every distillation method (5.3). FitNets trains the hint first and then the student;
we train both terms together (single stage).
"""

import keras

from tf_introspect.methods.distill import Distillation, check_feature_shapes


class Hint(Distillation):
    """Squared error between ``adapter(student[layer])`` and ``teacher[layer]``, plus CE."""

    def __init__(self, model, teacher, layer="stage2", hint_weight=1.0, lam=0.1, **kwargs):
        super().__init__(model, teacher, lam=lam, feature_layers=(layer,), **kwargs)
        check_feature_shapes(model, teacher, [layer], "hint (choose another --hint_layer)")
        s_shape = model.get_layer(layer).output.shape
        t_shape = teacher.get_layer(layer).output.shape
        self.hint_weight = float(hint_weight)
        self.adapter = keras.layers.Conv2D(t_shape[-1], 1, name="hint_adapter")
        self.adapter.build(s_shape)

    @property
    def trained_parts(self):
        return [self.model, self.adapter]

    def distill(self, logits, teacher_logits, features, teacher_features, y):
        diff = self.adapter(features[0]) - teacher_features[0]
        return self.hint_weight * keras.ops.mean(diff ** 2)
