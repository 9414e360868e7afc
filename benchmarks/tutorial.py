"""The tutorial baseline: the classic plain-Python scalar implementation.

One network as nine Python floats, ``math.exp``, and the 12 partials written
out as in the original blog post. Kept only as a speed baseline (it is checked
against the reference in the tests so the comparison is like for like).
"""

import math


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def deriv_sigmoid(x):
    fx = sigmoid(x)
    return fx * (1 - fx)


class TutorialNetwork:
    def __init__(self, params):
        self.w1, self.w2, self.w3, self.w4, self.w5, self.w6, self.b1, self.b2, self.b3 = (float(p) for p in params)

    @property
    def params(self):
        return [self.w1, self.w2, self.w3, self.w4, self.w5, self.w6, self.b1, self.b2, self.b3]

    def feedforward(self, x):
        h1 = sigmoid(self.w1 * x[0] + self.w2 * x[1] + self.b1)
        h2 = sigmoid(self.w3 * x[0] + self.w4 * x[1] + self.b2)
        return sigmoid(self.w5 * h1 + self.w6 * h2 + self.b3)

    def step(self, x, y_true, learn_rate):
        sum_h1 = self.w1 * x[0] + self.w2 * x[1] + self.b1
        h1 = sigmoid(sum_h1)
        sum_h2 = self.w3 * x[0] + self.w4 * x[1] + self.b2
        h2 = sigmoid(sum_h2)
        sum_o1 = self.w5 * h1 + self.w6 * h2 + self.b3
        y_pred = sigmoid(sum_o1)

        d_L_d_ypred = -2 * (y_true - y_pred)
        d_ypred_d_w5 = h1 * deriv_sigmoid(sum_o1)
        d_ypred_d_w6 = h2 * deriv_sigmoid(sum_o1)
        d_ypred_d_b3 = deriv_sigmoid(sum_o1)
        d_ypred_d_h1 = self.w5 * deriv_sigmoid(sum_o1)
        d_ypred_d_h2 = self.w6 * deriv_sigmoid(sum_o1)
        d_h1_d_w1 = x[0] * deriv_sigmoid(sum_h1)
        d_h1_d_w2 = x[1] * deriv_sigmoid(sum_h1)
        d_h1_d_b1 = deriv_sigmoid(sum_h1)
        d_h2_d_w3 = x[0] * deriv_sigmoid(sum_h2)
        d_h2_d_w4 = x[1] * deriv_sigmoid(sum_h2)
        d_h2_d_b2 = deriv_sigmoid(sum_h2)

        self.w1 -= learn_rate * d_L_d_ypred * d_ypred_d_h1 * d_h1_d_w1
        self.w2 -= learn_rate * d_L_d_ypred * d_ypred_d_h1 * d_h1_d_w2
        self.b1 -= learn_rate * d_L_d_ypred * d_ypred_d_h1 * d_h1_d_b1
        self.w3 -= learn_rate * d_L_d_ypred * d_ypred_d_h2 * d_h2_d_w3
        self.w4 -= learn_rate * d_L_d_ypred * d_ypred_d_h2 * d_h2_d_w4
        self.b2 -= learn_rate * d_L_d_ypred * d_ypred_d_h2 * d_h2_d_b2
        self.w5 -= learn_rate * d_L_d_ypred * d_ypred_d_w5
        self.w6 -= learn_rate * d_L_d_ypred * d_ypred_d_w6
        self.b3 -= learn_rate * d_L_d_ypred * d_ypred_d_b3

    def train(self, data, all_y_trues, epochs, learn_rate):
        history = []
        for _ in range(epochs):
            for x, y_true in zip(data, all_y_trues):
                self.step(x, y_true, learn_rate)
            # The full-dataset loss after every epoch, as the other implementations record.
            history.append(sum((y - self.feedforward(x)) ** 2 for x, y in zip(data, all_y_trues)) / len(data))
        return history
